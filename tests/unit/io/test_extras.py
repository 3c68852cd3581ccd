"""A reader whose library is not installed (the runtime-only install) says which extra installs it."""

from __future__ import annotations

import sys

import pytest

from bci_stream.core.errors import DataError
from bci_stream.io.xdf import read_xdf


def test_a_missing_reader_library_names_its_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pyxdf", None)  # what `import pyxdf` meets without the data extra
    with pytest.raises(DataError, match=r"^reading XDF files needs 'pyxdf', which the 'data' extra installs: "
                                        r"pip install 'bci-stream\[data\]' \("):
        read_xdf(tmp_path / "session.xdf")
