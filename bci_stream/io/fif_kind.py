"""What a FIF file holds when it holds no continuous recording: mne's ``read_raw_fif`` says only "No raw data in
FILE" for the epochs (``-epo.fif``) and evoked (``-ave.fif``) files an mne pipeline writes, so a lab that gives one
to ``calibrate``, ``evaluate``, ``train`` or ``replay`` is told what it gave and what is read instead."""

from __future__ import annotations

from pathlib import Path


def not_raw_hint(path: Path, exc: BaseException) -> str:
    """``": it holds ..., not a continuous recording: ..."`` when mne found no raw data in ``path`` and the file holds
    mne Epochs or Evoked data; empty otherwise (mne's own message stands)."""
    if "No raw data" not in str(exc):
        return ""
    from bci_stream.io.extras import require

    mne = require("mne", "reading .fif files")

    for kind, read in (("epochs (mne Epochs: trials cut out)", lambda: mne.read_epochs(path, preload=False,
                                                                                         verbose="error")),
                       ("evoked responses (mne Evoked: averages)", lambda: mne.read_evokeds(path, verbose="error"))):
        try:
            read()
        except Exception:  # noqa: BLE001 - not this kind either
            continue
        return (f"; the file holds {kind}, not a continuous recording: give the raw recording they came from "
                f"(continuous EEG with its events, as the service receives it)")
    return ""


__all__ = ["not_raw_hint"]
