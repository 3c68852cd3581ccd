"""Loading a recording with the warnings it gave, for the reader tests."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from bci_stream.io import Recording, load_recording
from bci_stream.io.errors import RecordingWarning


def load_warned(path: Path, category: type[Warning] = RecordingWarning, **opts: Any) -> tuple[Recording, list[str]]:
    """``load_recording(path, **opts)`` and the messages of the warnings of ``category`` it gave (every one shown,
    none filtered out as seen before)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = load_recording(path, **opts)
    return rec, [str(w.message) for w in caught if issubclass(w.category, category)]
