"""`calibrate` on one XDF file holding two runs (a recording decoder that kept running while the lab restarted its
amplifier or stimulus program: the timestamps jump forward between them) leaves out the trial across the jump and
the one in the settling after it, says so per file, and calibrates the two parts as two runs (leave-one-run-out CV),
as it does the same runs as two files. It said "1 run(s)", no note, and used every trial (s21 audit, finding 2).
Real EEG: the repository's EDF subset (S001 R05 then R06, 21 channels, 160 Hz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import load_recording
from bci_stream.train.classical.bad_spans import settle_s
from bci_stream.train.classical.calibration import calibrate
from bci_stream.train.classical.calibration_inputs import load_calibration
from support.common import subset_file
from support.marked import FAST_CHANNELS, LABELS, R05, R06, SFREQ
from support.two_runs_xdf import cue_onsets, two_runs_xdf

pytest.importorskip("pyxdf")

WHY = f"timestamp jump + {settle_s(SFREQ):.1f} s settling"


def _classes(src: Path) -> dict[int, str]:
    return {e.onset: LABELS[e.description] for e in load_recording(subset_file(src)).events if e.description in LABELS}


def test_the_trials_at_the_jump_are_left_out_and_the_parts_are_two_runs(tmp_path: Path) -> None:
    run = two_runs_xdf(tmp_path / "two.xdf", cue1=10, cue2=3)
    prep = load_calibration([run.path], LABELS, channels=FAST_CHANNELS)
    a, b = cue_onsets(R05), cue_onsets(R06)
    c1, c2 = _classes(R05)[a[10]], _classes(R06)[b[3]]  # the trial reaching the jump, the one in its settling
    assert prep.left_out == [{"file": "two.xdf", "n": 2, "by_reason": {WHY: {c1: 2} if c1 == c2 else {c1: 1, c2: 1}}}]
    assert [r.source for r in prep.runs] == [f"{run.path} (part 1 of 2)", f"{run.path} (part 2 of 2)"]
    r06 = load_recording(subset_file(R06))
    assert prep.runs[0].n_times == run.n1 and prep.runs[1].n_times == r06.n_times - run.start2
    assert prep.runs[0].trials.onsets.tolist() == a[:10]
    # the second part's trials are those calibrate finds in R06 itself after the one left out, on the same samples
    alone = load_calibration([subset_file(R06)], LABELS, channels=FAST_CHANNELS).runs[0].trials.onsets
    assert prep.runs[1].trials.onsets.tolist() == [o - run.start2 for o in alone if o > b[3]]
    rows = [r06.ch_names.index(n) for n in prep.ch_names]
    np.testing.assert_allclose(prep.runs[1].data, r06.data[rows].T[run.start2:], rtol=1e-12)
    assert (f"two.xdf: its timestamps jump forward 1 time(s) (a break in the recording, e.g. two runs in one file: "
            f"'timestamp jump' at t={run.n1 / SFREQ:.3f} s), so its 2 part(s) with trials are calibrated as 2 run(s): "
            f"{run.n1} samples from t=0.000 s, 10 trial(s), ") in "\n".join(prep.notes)
    assert any(n.startswith(f"left out 2 trial(s) of two.xdf: 2 overlap {WHY}") for n in prep.notes), prep.notes


def test_calibrate_says_two_runs_and_the_left_out_trials(tmp_path: Path) -> None:
    run = two_runs_xdf(tmp_path / "two.xdf")
    lines: list[str] = []
    res = calibrate([run.path], LABELS, "tworuns", tmp_path / "models", channels=FAST_CHANNELS, progress=False,
                    echo=lines.append, recurrent=False, average=False, combined=False)
    n = sum(len(r.trials) for r in load_calibration([run.path], LABELS, channels=FAST_CHANNELS).runs)
    assert any(line.startswith("calibrating 'tworuns': 2 run(s)") and "leave-one-run-out over 2 runs" in line
               for line in lines), lines
    assert any(line.startswith(f"note: left out 2 trial(s) of two.xdf: 2 overlap {WHY}") for line in lines), lines
    for cv in res.cv.values():
        assert cv.n_trials == n and len(cv.fold_sizes) == 2
    md = (tmp_path / "models" / "tworuns" / "report" / "report.md").read_text(encoding="utf-8")
    assert "two.xdf 2: timestamp jump" in md and "calibrated as 2 run(s)" in md
