"""Readers that need an optional library say which extra installs it, instead of a bare ImportError."""

from __future__ import annotations

import importlib
from types import ModuleType

from bci_stream.core.errors import DataError

#: Python module → the bci-stream extra that installs it.
EXTRA_OF = {"mne": "data", "pyxdf": "data", "pymatreader": "data"}


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` for ``what`` (e.g. ``"reading .edf files"``), or raise a DataError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRA_OF.get(module.split(".")[0], "data")
        raise DataError(f"{what} needs {module!r}, which the {extra!r} extra installs: "
                        f"pip install 'bci-stream[{extra}]' ({exc})") from None
