"""A marker of an XDF file outside its signal's time span marks no sample: it is left out, and now said, naming the
markers and how far out they fall. Before, the reader dropped it without a word: a recorder that opened its EEG inlet
after a cue came (audit s51lab: PlayerLSL-played EEGMMIDB R13, its first T1 0.156 s before the first sample
recorded) gave calibrate and evaluate one trial fewer, unsaid. Markers inside the span are placed as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from support.loading import load_warned
from support.xdf import write_xdf

SFREQ = 100.0


def _file(tmp_path: Path, m_stamps: list[float], values: list[str]) -> Path:
    stamps = 50.0 + np.arange(1000) / SFREQ  # 10 s from t=50 s
    data = np.random.default_rng(0).standard_normal((1000, 2))
    return write_xdf(tmp_path / "cues.xdf", stamps, [("amp", "EEG", ["C3", "C4"], SFREQ, data, "microvolts")],
                     [("amp-markers", m_stamps, values)])


def test_markers_before_the_first_sample_or_after_the_last_are_named(tmp_path: Path) -> None:
    path = _file(tmp_path, [49.5, 51.0, 55.0, 61.25], ["T1", "T2", "T1", "T2"])
    rec, said = load_warned(path)
    assert [(e.onset, e.description) for e in rec.events] == [(100, "T2"), (500, "T1")]
    outside = [s for s in said if "outside the time span" in s]
    assert outside == ["cues.xdf: 2 of the 4 markers of 'amp-markers' fall outside the time span of stream 'amp' "
                       "('T1' 0.500 s before its first sample, 'T2' 1.260 s after its last): they mark no sample and "
                       "are left out (a cue sent before the recording's first sample is a trial lost)"], said


def test_markers_inside_the_span_say_nothing(tmp_path: Path) -> None:
    rec, said = load_warned(_file(tmp_path, [50.0, 51.0, 59.99], ["T1", "T2", "T1"]))
    assert [e.onset for e in rec.events] == [0, 100, 999]
    assert not [s for s in said if "outside the time span" in s], said
