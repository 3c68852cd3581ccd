"""XDF files whose timestamps go back (a clock reset the file's clock offsets do not resolve): markers are placed in
the part of the recording they belong to, or the file is refused naming the problem; none is lost silently.

pyxdf maps a reset away only with clock offsets that show it (LabRecorder's, measured every 5 s, collection times
on the sender's clock): the control case below. A file with no clock offsets at all, or with one offset of 0 at
each end (what tests/support/xdf.write_xdf writes, and what pyxdf then splits into two one-offset segments of
offset 0), keeps each stream on its own clock. Before the fix every marker of such a file was dropped
(``keep = stamps[0] <= t <= stamps[-1]`` with ``stamps[-1] < stamps[0]``), or, when the clock went back less than
the recording's span, put on a wrong sample (``searchsorted`` on timestamps that are not sorted).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import DataError, Event, load_recording
from bci_stream.io.xdf_chunks import XdfWriter, stream_header_xml
from support.loading import load_warned
from support.xdf import write_xdf

SFREQ = 100.0
N = 2000  # samples per part: 20 s
VALUES = ["T1", "T2", "T1", "T2"]


def _signal(t0_a: float, t0_b: float) -> np.ndarray:
    """Timestamps of two parts of N samples: the clock restarts at ``t0_b`` after the first part."""
    return np.r_[t0_a + np.arange(N) / SFREQ, t0_b + np.arange(N) / SFREQ]


def _write(path: Path, stamps: np.ndarray, m_stamps: list[float], values: list[str], *, offsets: bool) -> Path:
    data = np.random.default_rng(0).normal(0, 20, (len(stamps), 2))
    return write_xdf(path, stamps, [("eeg", "EEG", ["C3", "C4"], SFREQ, data, "microvolts")],
                     [("cues", m_stamps, values)], clock_offsets=offsets)


@pytest.mark.parametrize("offsets", [False, True], ids=["no clock offsets", "zero offsets at both ends"])
def test_markers_on_both_sides_of_a_reset_are_kept(tmp_path: Path, offsets: bool) -> None:
    """The sender's computer restarts 20 s in: the signal and its markers (one clock) go back from ~1020 s to 5 s."""
    path = _write(tmp_path / "reset.xdf", _signal(1000.0, 5.0), [1002.0, 1010.0, 7.0, 15.0], VALUES, offsets=offsets)
    rec, said = load_warned(path, until_next=True)
    assert rec.n_times == 2 * N
    assert rec.events == [Event(200, 800, "T1"), Event(1000, 1200, "T2"), Event(2200, 800, "T1"),
                          Event(3000, 1000, "T2")]
    assert len(said) == 1 and said[0].startswith(
        "reset.xdf: the timestamps of stream 'eeg' go back 1 time(s), at sample 2000 (1019.990 s -> 5.000 s): a clock "
        "reset that the file's clock offsets do not resolve; each marker of 'cues' was placed in the part of the "
        "recording whose time span holds it (paired in order: the markers go back as often): 4 placed, 0 outside")


def test_markers_only_after_the_reset_go_to_the_one_part_that_holds_them(tmp_path: Path) -> None:
    """The marker stream (started after the reset) never goes back: each marker lies in one part's span only."""
    path = _write(tmp_path / "after.xdf", _signal(1000.0, 5.0), [7.0, 15.0, 40.0], ["T1", "T2", "late"],
                  offsets=False)
    rec, said = load_warned(path)
    assert rec.events == [Event(2200, 0, "T1"), Event(3000, 0, "T2")]  # 40 s is after the recording: dropped
    assert len(said) == 1 and said[0].endswith("2 placed, 1 outside every part dropped")


def test_overlapping_parts_are_told_apart_by_pairing(tmp_path: Path) -> None:
    """The clock goes back 15 s: both parts cover 1005-1020 s, but the markers go back too, so each marker's part
    is its own part's pair."""
    path = _write(tmp_path / "overlap.xdf", _signal(1000.0, 1005.0), [1010.0, 1007.0], ["T1", "T2"], offsets=False)
    rec, said = load_warned(path)
    assert rec.events == [Event(1000, 0, "T1"), Event(2200, 0, "T2")]
    assert len(said) == 1 and "4 placed" not in said[0] and "2 placed, 0 outside" in said[0]


def test_a_marker_two_parts_could_hold_is_refused_naming_the_file_and_the_problem(tmp_path: Path) -> None:
    """The same overlap, with markers that never go back: 1010 s is in both parts' spans; which sample it marks
    cannot be told, so the file is refused (before: a silent wrong sample)."""
    path = _write(tmp_path / "ambiguous.xdf", _signal(1000.0, 1005.0), [1002.0, 1010.0], ["T1", "T2"],
                  offsets=False)
    with pytest.raises(DataError, match=re.escape(
            "ambiguous.xdf: the timestamps of stream 'eeg' go back 1 time(s), at sample 2000 (1019.990 s -> "
            "1005.000 s): a clock reset that the file's clock offsets do not resolve (none recorded, or none across "
            "the reset), so the 2 parts of the recording lie on unrelated time axes; 'cues' goes back 0 time(s), so "
            "its parts cannot be paired with the signal's, and marker 1 ('T2') at 1010.000 s falls in the time span "
            "of part 1 (samples 0-1999, 1000.000-1019.990 s), part 2 (samples 2000-3999, 1005.000-1024.990 s): "
            "which sample it marks cannot be told. Record with clock offsets (LabRecorder writes them), or cut the "
            "file at the reset")):
        load_recording(path)


def test_a_reset_that_the_clock_offsets_resolve_loads_as_before(tmp_path: Path) -> None:
    """Control: LabRecorder's offsets (every 5 s, ``local = remote + offset``, collection time on the sender's
    clock) show the reset, pyxdf puts both parts on the recorder's clock, and nothing here is needed."""
    stamps = _signal(1000.0, 5.0)
    data = np.random.default_rng(0).normal(0, 20, (2 * N, 2))
    path = tmp_path / "offsets.xdf"
    with path.open("wb") as f:
        w = XdfWriter(f)
        w.add_stream(1, stream_header_xml("eeg", "EEG", ["C3", "C4"], SFREQ, "double64", unit="microvolts"),
                     "double64", 2)
        w.add_stream(2, stream_header_xml("cues", "Markers", ["m"], 0.0, "string"), "string", 1)
        w.write_numeric(1, stamps, data)
        w.write_strings(2, [1002.0, 1010.0, 7.0, 15.0], VALUES)
        for sid in (1, 2):
            for local in np.arange(3000.0, 3040.0, 5.0):  # the recorder's clock; the sender's restarts at 3020
                offset = 2000.0 if local < 3020.0 else 3015.0
                w.write_clock_offset(sid, local - offset, offset)
            w.close_stream(sid)
    rec, said = load_warned(path)
    assert [(e.onset, e.description) for e in rec.events] == [(200, "T1"), (1000, "T2"), (2200, "T1"), (3000, "T2")]
    assert said == []


@pytest.mark.parametrize("back_s", [0.3, 0.5])
def test_a_step_back_shorter_than_a_jump_splits_the_recording_and_every_cue_keeps_its_sample(tmp_path, back_s):
    """Regular 100 Hz stamps that step back ``back_s`` once (at sample 400), each cue stamped with its sample's stamp:
    each lands on its sample, and the step is named. Before, a step back of 0.5 s or less was fitted over (the file
    de-jittered as one line): cues 3-22 samples off, said only as a rate ('runs at 110.345 Hz'; audit s67rec F11)."""
    stamps = 1000.0 + np.arange(800) / SFREQ
    stamps[400:] -= back_s  # sample 400 is back_s - 10 ms before sample 399
    cues = [100, 450, 700]
    path = _write(tmp_path / "back.xdf", stamps, [float(stamps[k]) for k in cues], ["S100", "S450", "S700"],
                  offsets=False)
    rec, said = load_warned(path)
    assert [(e.onset, e.description) for e in rec.events] == list(zip(cues, ["S100", "S450", "S700"]))
    assert any("go back 1 time(s), at sample 400" in s for s in said), said
    assert not any("runs at" in s for s in said), said
