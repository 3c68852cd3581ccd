"""Our own simple NPZ format, read and written without pickling.

Keys: ``data`` ``[n_chans, n_times]`` float (µV), ``sfreq`` (scalar), ``ch_names`` (str array),
``unit`` (``"microvolts"``); optional ``labels`` ``[n_times]`` int with ``label_names`` (str array);
optional events as ``event_onset``, ``event_duration`` (samples, int) and ``event_description`` (str);
optional ``ch_types`` and ``ch_units`` (str arrays, one per channel: ``unit`` is then the unit of the voltage
channels, and ``ch_units`` says which channels are in another unit); optional ``bad_channels`` (str array: the
channels marked bad, ``Recording.bad_channels``; written when there are any).
"""

from __future__ import annotations

import math
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from bci_stream.io.errors import DataError, RecordingWarning
from bci_stream.io.recording import UNIT, Event, Recording


def save_npz(recording: Recording, path: str | Path) -> Path:
    """Write ``recording`` to ``path`` (``.npz`` is appended by numpy if missing); returns the path written."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        path = path.with_name(path.name + ".npz")
    ev = recording.events
    np.savez_compressed(
        path,
        data=recording.data,
        sfreq=np.float64(recording.sfreq),
        ch_names=np.array(recording.ch_names, dtype=str),
        unit=np.array(UNIT),
        labels=recording.labels,
        label_names=np.array(recording.label_names, dtype=str),
        event_onset=np.array([e.onset for e in ev], dtype=np.int64),
        event_duration=np.array([e.duration for e in ev], dtype=np.int64),
        event_description=np.array([e.description for e in ev], dtype=str),
        **({"ch_types": np.array(recording.ch_types, dtype=str)} if recording.ch_types is not None else {}),
        **({"ch_units": np.array(recording.ch_units, dtype=str)} if recording.ch_units is not None else {}),
        **({"bad_channels": np.array(recording.bad_channels, dtype=str)} if recording.bad_channels else {}),
    )
    return path


def read_npz(path: Path) -> tuple[np.ndarray, float, list[str], list[Event], np.ndarray | None, list[str], dict]:
    """Data (µV), sfreq, channel names, events, labels (or None), label names and ``{"ch_types": ..., "ch_units":
    ..., "bad_channels": ...}`` (each None when the file does not store it) from an NPZ file."""
    try:
        z = np.load(path, allow_pickle=False)
        if isinstance(z, np.ndarray):  # a plain .npy array saved under .npz
            raise DataError("it is a single NumPy array (.npy), not an archive of the arrays "
                            "data, sfreq, ch_names (as bci-stream writes it)")
        with z:
            f = {k: _array(z, k) for k in z.files}
    except EOFError as exc:  # numpy: "No data left in file" (0 bytes); before, click printed only "Aborted!"
        raise DataError(f"cannot read {path} as an NPZ recording: the file is empty ({exc})") from exc
    except (zipfile.BadZipFile, zlib.error) as exc:  # cut short or damaged: before, a traceback
        raise DataError(f"cannot read {path} as an NPZ recording: it is not a whole, sound zip archive ({exc}); was it "
                        "cut short or damaged?") from exc
    except (OSError, ValueError) as exc:
        why = exc
        if "allow_pickle" in str(exc):  # numpy's guess for bytes it cannot read: a pickle; its cure is unsafe
            why = "it is neither a zip archive of arrays nor a NumPy array file"
        raise DataError(f"cannot read {path} as an NPZ recording: {why}") from exc
    missing = [k for k in ("data", "sfreq", "ch_names") if k not in f]
    if missing:
        raise DataError(f"{path} must hold keys data, sfreq, ch_names; missing {missing}")
    unit = str(f["unit"]) if "unit" in f else UNIT
    if unit != UNIT:
        raise DataError(f"{path}: unit must be {UNIT!r}; got {unit!r}")
    events = _events(f, path)
    labels = f.get("labels")
    label_names = [str(n) for n in f.get("label_names", [])]
    extras = {k: [str(v) for v in f[k]] if k in f else None for k in ("ch_types", "ch_units", "bad_channels")}
    try:  # (before: "could not convert string to float: 'abc'", naming neither file nor key: audit s66cli F13)
        sfreq = float(f["sfreq"])
    except (TypeError, ValueError):
        raise DataError(f"{path}: sfreq must be a number (Hz), got {np.asarray(f['sfreq']).tolist()!r}") from None
    if not math.isfinite(sfreq) or sfreq <= 0:  # (inf: an OverflowError of replay's; audit s69io F9)
        raise DataError(f"{path}: sfreq must be a finite number of Hz above 0, got {sfreq!r}")
    data, ch_names = f["data"], [str(n) for n in f["ch_names"]]
    if data.ndim == 2 and data.shape[0] != len(ch_names) == data.shape[1]:
        raise DataError(f"{path}: data must be [n_chans, n_times]; its shape {data.shape} has the {len(ch_names)} "
                        "channels of ch_names along its second axis: save data.T")
    if data.ndim == 2 and data.shape[1] == 0:  # (accepted: replay --loop then spun a core pushing nothing)
        raise DataError(f"{path}: data holds no sample (shape {data.shape}): nothing to read")
    if data.ndim == 2 and (out := [e for e in events if not 0 <= e.onset < data.shape[1]]):
        warnings.warn(RecordingWarning(
            f"{path.name}: {len(out)} of its {len(events)} events lie outside its {data.shape[1]} samples (event_onset "
            f"{', '.join(f'{e.onset} ({e.description})' for e in out[:5])}{' ...' if len(out) > 5 else ''}): they "
            "mark no sample and are left out"), stacklevel=3)
        events = [e for e in events if 0 <= e.onset < data.shape[1]]
    return data, sfreq, ch_names, events, labels, label_names, extras


def _array(z, key: str) -> np.ndarray:
    """One array of the archive; a DataError naming ``key`` when it holds Python objects (pickled: not read)."""
    try:
        return z[key]
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise
        raise DataError(f"its array {key!r} holds Python objects (pickled), which are not read (unpickling "
                        f"can run code): save it as strings or numbers, e.g. np.array(names, dtype=str)") from None


def _events(f: dict[str, np.ndarray], path: Path) -> list[Event]:
    """The events of the archive's ``event_onset``, ``event_duration`` (0 when absent) and ``event_description``."""
    if "event_onset" not in f:
        return []
    onsets = np.atleast_1d(f["event_onset"])
    durations = np.atleast_1d(f.get("event_duration", np.zeros(len(onsets), np.int64)))
    if "event_description" not in f:
        raise DataError(f"{path}: event_onset must come with event_description (one name per event)")
    names = np.atleast_1d(f["event_description"])
    if not len(onsets) == len(durations) == len(names):
        raise DataError(f"{path}: event_onset, event_duration and event_description must have one entry per event; "
                        f"got {len(onsets)}, {len(durations)} and {len(names)}")
    return [Event(int(o), int(d), str(s)) for o, d, s in zip(onsets, durations, names)]
