"""EDF+D / BDF+D: a discontinuous file, whose data records are not back to back in time (a recording paused).

mne reads such a file as if continuous: its records back to back, and its annotations placed by their time from the
file's start, so an event after a pause lands late by the pause (one after the data's length in samples is dropped,
"outside data range"), and nothing marks where the data jump (audit s69io F3). Each record's start is the first
time-keeping TAL (``+<onset>\\x14\\x14``) of its annotation signal; where records are not back to back (by more than
half a sample), the events are placed on the samples of the record that holds them (one that falls in a pause at the
next record's first sample), and each jump is marked by a :data:`RECORD_GAP` event, a discontinuity
(:data:`bci_stream.train.classical.bad_spans.BOUNDARIES`: calibrate and evaluate leave out the trials across it, a
replay says it). A file flagged ``+D`` whose records are back to back reads as a continuous one.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from bci_stream.io.edf_file import _EDF_ANNOTATIONS, _edf_header
from bci_stream.io.extras import require
from bci_stream.io.recording import Event

#: The event marking where a discontinuous EDF/BDF file's records jump (a discontinuity).
RECORD_GAP = "record gap"
_TAL_START = re.compile(r"^\s*([+-]\d+(?:\.\d*)?)\x14\x14")


def _flag(path: Path) -> str:
    """The EDF/BDF header's reserved field (``EDF+C``, ``BDF+D``, blank ...)."""
    with path.open("rb") as f:
        return f.read(236)[192:].decode("latin-1").strip()


def records_jump(path: Path) -> bool:
    """Whether ``path`` is an EDF+D/BDF+D file whose records are not back to back (by more than 1 ms)."""
    found = record_starts(path)
    return found is not None and bool(np.any(np.abs(np.diff(found[0]) - found[1]) > 1e-3))


def record_starts(path: Path) -> tuple[np.ndarray, float] | None:
    """Each data record's start (seconds from the file's start) of an EDF+D/BDF+D file and the records' duration;
    None for any other file, or where its header or a record's time-keeping TAL does not parse."""
    if not (flag := _flag(path)).startswith(("EDF+D", "BDF+D")):
        return None
    header = _edf_header(path)
    if header is None or header.layout is None:
        return None
    ann = next((k for k, label in enumerate(header.labels) if label in _EDF_ANNOTATIONS), None)
    width = 3 if flag.startswith("BDF") or path.suffix.lower() == ".bdf" else 2
    n_samps, data_at, record_s = header.layout.n_samps, header.layout.n_bytes, header.layout.record_s
    record_bytes = sum(n_samps) * width
    if ann is None or not record_s > 0 or record_bytes <= 0:
        return None
    at, length = sum(n_samps[:ann]) * width, n_samps[ann] * width
    starts = []
    with path.open("rb") as f:
        for r in range((path.stat().st_size - data_at) // record_bytes):
            f.seek(data_at + r * record_bytes + at)
            if (m := _TAL_START.match(f.read(length).decode("latin-1"))) is None:
                return None
            starts.append(float(m.group(1)))
    return np.asarray(starts), record_s


def place_discontinuous(path: Path, sfreq: float, n_times: int,
                        events: list[Event]) -> tuple[list[Event], str] | None:
    """The events of an EDF+D/BDF+D file whose records are not back to back, and the warning saying so; None for
    any other file (its events as mne placed them stand). ``events``: the trigger channel's (by sample, kept); the
    annotations are read again from the file (mne drops those beyond the data's length in time)."""
    found = record_starts(path)
    if found is None or len(found[0]) < 2:
        return None
    starts, record_s = found
    steps = np.diff(starts)
    jumps = np.flatnonzero(np.abs(steps - record_s) > 0.5 / sfreq) + 1  # the records after a jump
    if not len(jumps):
        return None
    per_record = int(round(record_s * sfreq))
    ann = require("mne", f"reading {path.suffix} files").read_annotations(str(path))
    placed, in_pause, beyond = [], 0, 0
    for onset, duration, desc in zip(ann.onset, ann.duration, ann.description):
        r = max(int(np.searchsorted(starts, onset, side="right")) - 1, 0)
        within = float(onset) - starts[r]
        if within >= record_s:  # in a pause: at the next record's first sample
            r, within, in_pause = r + 1, 0.0, in_pause + 1
        sample = r * per_record + int(round(max(within, 0.0) * sfreq))
        if sample >= n_times:
            beyond += 1
            continue
        placed.append(Event(sample, int(round(float(duration) * sfreq)), str(desc)))
    kept = placed if len(ann) else list(events)
    gaps = [Event(int(r) * per_record, 0, RECORD_GAP) for r in jumps if int(r) * per_record < n_times]
    pauses = steps[jumps - 1] - record_s
    note = (f"{path.name}: a discontinuous file (EDF+D/BDF+D) whose records are not back to back: {len(jumps)} "
            f"jump(s) of {', '.join(f'{p:+.3g}' for p in pauses[:5])}{' ...' if len(pauses) > 5 else ''} s, the first "
            f"at t={int(jumps[0]) * record_s:g} s of its data; its data are read back to back, its events placed on "
            f"the samples of the records that hold them ({in_pause} in a pause, at the next record's start; {beyond} "
            f"after its data, left out), and each jump is a '{RECORD_GAP}' event, a discontinuity: calibrate and "
            "evaluate leave out the trials across it")
    return sorted(gaps + kept, key=lambda e: e.onset), note  # a jump before an event at its sample
