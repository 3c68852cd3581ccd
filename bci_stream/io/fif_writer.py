"""Writing a :class:`~bci_stream.io.recording.Recording` through mne: an ``mne.io.RawArray`` (:func:`to_mne_raw`)
and a FIF raw file (:func:`save_fif`) that reads back as it was written, channel types, units, bad channels and
events included.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from bci_stream.core.units import MNE_VOLTAGE_TYPES
from bci_stream.io.errors import RecordingWarning
from bci_stream.io.extras import require
from bci_stream.io.fiff_units import _fiff_unit_code
from bci_stream.io.recording import UNIT, Recording


def to_mne_raw(recording: Recording, *, ch_type: str = "eeg"):
    """An ``mne.io.RawArray`` of ``recording`` with its channel types, units and bad channels, and its events as
    annotations.

    Voltage channels (unit :data:`UNIT`) go to volts, as mne wants; a channel in another unit keeps its values,
    typed ``misc`` where its type is a voltage type, with the FIFF code of its unit (a unit FIFF has no code for,
    e.g. ``"g"``, is written unitless, with a warning naming the channel). ``ch_type`` is the type of every channel
    when the recording declares none; a declared type mne does not know becomes ``misc``.
    """
    mne = require("mne", "writing FIF files")
    FIFF = require("mne.io.constants", "writing FIF files").FIFF

    n_chans = len(recording.ch_names)
    known = mne.io.get_channel_type_constants()
    types = [t.strip().lower() for t in recording.ch_types] if recording.ch_types else [ch_type] * n_chans
    types = [t if t in known and t != "stim" else "misc" for t in types]
    units = list(recording.ch_units) if recording.ch_units else [UNIT] * n_chans
    voltage = np.array([u == UNIT for u in units])
    types = [t if v or t not in MNE_VOLTAGE_TYPES else "misc" for t, v in zip(types, voltage)]
    info = mne.create_info(list(recording.ch_names), recording.sfreq, ch_types=types, verbose="error")
    for i in np.flatnonzero(voltage):  # in volts whatever the type (mne gives a misc channel no unit)
        info["chs"][i]["unit"], info["chs"][i]["unit_mul"] = FIFF.FIFF_UNIT_V, FIFF.FIFF_UNITM_NONE
    for i in np.flatnonzero(~voltage):
        code = _fiff_unit_code(FIFF, units[i])
        if code is None:
            warnings.warn(f"channel {recording.ch_names[i]!r}: unit {units[i]!r} has no FIFF code; written unitless",
                          RecordingWarning, stacklevel=2)
            code = FIFF.FIFF_UNIT_NONE
        info["chs"][i]["unit"] = code
    info["bads"] = [n for n in recording.bad_channels if n in recording.ch_names]
    raw = mne.io.RawArray(recording.data * np.where(voltage, 1e-6, 1.0)[:, None], info, verbose="error")
    if recording.events:
        ev = recording.events
        raw.set_annotations(mne.Annotations(
            onset=[e.onset / recording.sfreq for e in ev], duration=[e.duration / recording.sfreq for e in ev],
            description=[e.description for e in ev]))
    return raw


def save_fif(recording: Recording, path: str | Path) -> Path:
    """Write ``recording`` as a FIF raw file (double precision, so it round-trips exactly, channel types and units
    included: see :func:`to_mne_raw`)."""
    path = Path(path)
    to_mne_raw(recording).save(path, fmt="double", overwrite=True, verbose="error")
    return path
