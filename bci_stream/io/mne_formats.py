"""EDF/BDF, GDF, FIF, EEGLAB ``.set``, BrainVision ``.vhdr`` through mne, in µV, with events from annotations.

mne returns volts for voltage channels; we multiply those by 1e6 and leave channels of other units
(e.g. ``misc`` without a unit) as they are. Stim/trigger channels (BDF ``Status``, EDF ``TRIGGER``) are
not data: they are dropped, and when a file has no annotations its trigger codes become events
(one per run of a non-zero code, description = the code as text).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from bci_stream.io.errors import DataError
from bci_stream.io.extras import require
from bci_stream.io.events import events_from_codes
from bci_stream.io.recording import Event, Recording

MNE_SUFFIXES = (".edf", ".bdf", ".gdf", ".fif", ".fif.gz", ".set", ".vhdr")


class RecordingWarning(UserWarning):
    """Something the reader noticed in a file that still loads (e.g. fewer samples than its header says)."""


def _read_raw(path: Path):
    mne = require("mne", f"reading {path.suffix} files")

    suffix = "".join(path.suffixes[-2:]).lower() if path.name.lower().endswith(".fif.gz") else path.suffix.lower()
    readers = {
        ".edf": mne.io.read_raw_edf,
        ".bdf": mne.io.read_raw_bdf,
        ".gdf": mne.io.read_raw_gdf,
        ".fif": mne.io.read_raw_fif,
        ".fif.gz": mne.io.read_raw_fif,
        ".set": mne.io.read_raw_eeglab,
        ".vhdr": mne.io.read_raw_brainvision,
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            raw = readers[suffix](path, preload=True, verbose="warning")
        except Exception as exc:  # noqa: BLE001 - a corrupt file can make mne fail in any way
            raise DataError(f"cannot read {path} as a {suffix} file: {type(exc).__name__}: {exc}") from exc
    for w in caught:  # what mne says of the file (e.g. a truncated EDF) reaches the user, naming the file
        if issubclass(w.category, (RuntimeWarning, UserWarning)):
            warnings.warn(f"{path.name}: {w.message}", RecordingWarning, stacklevel=3)
    return raw


def read_mne(path: Path) -> tuple[np.ndarray, float, list[str], list[Event], dict]:
    """Data ``[n_chans, n_times]`` in µV, sfreq, channel names as the file gives them, events, and
    ``{"ch_types": [...]}`` (mne's type of each channel)."""
    FIFF = require("mne.io.constants", f"reading {path.suffix} files").FIFF

    raw = _read_raw(path)
    sfreq = float(raw.info["sfreq"])
    types = raw.get_channel_types()
    stim = [i for i, t in enumerate(types) if t == "stim"]
    keep = [i for i, t in enumerate(types) if t != "stim"]
    if not keep:
        raise DataError(f"{path} has no data channels (only stim channels {raw.ch_names})")
    scale = np.array([1e6 if raw.info["chs"][i]["unit"] == FIFF.FIFF_UNIT_V else 1.0 for i in keep])
    data = raw.get_data(picks=keep) * scale[:, None]
    ch_names = [raw.ch_names[i] for i in keep]

    ann = raw.annotations
    events: list[Event] = []
    if len(ann):
        onsets = raw.time_as_index(ann.onset, use_rounding=True, origin=ann.orig_time)
        for onset, dur, desc in zip(onsets, ann.duration, ann.description):
            if 0 <= onset < raw.n_times:
                events.append(Event(int(onset), int(round(float(dur) * sfreq)), str(desc)))
    elif stim:
        codes = raw.get_data(picks=[stim[0]])[0]
        events = events_from_codes(np.rint(codes).astype(np.int64))
    return data, sfreq, ch_names, events, {"ch_types": [types[i] for i in keep]}


def to_mne_raw(recording: Recording, *, ch_type: str = "eeg"):
    """An ``mne.io.RawArray`` of ``recording`` (volts, as mne wants) with its events as annotations."""
    mne = require("mne", "writing FIF files")

    info = mne.create_info(list(recording.ch_names), recording.sfreq, ch_types=ch_type, verbose="error")
    raw = mne.io.RawArray(recording.data * 1e-6, info, verbose="error")
    if recording.events:
        ev = recording.events
        raw.set_annotations(mne.Annotations(
            onset=[e.onset / recording.sfreq for e in ev], duration=[e.duration / recording.sfreq for e in ev],
            description=[e.description for e in ev]))
    return raw


def save_fif(recording: Recording, path: str | Path) -> Path:
    """Write ``recording`` as a FIF raw file (double precision, so it round-trips exactly)."""
    path = Path(path)
    to_mne_raw(recording).save(path, fmt="double", overwrite=True, verbose="error")
    return path
