"""`evaluate --live --bad-events` with decision times that end before the epoch references' 2.5 s: a mark 2.2 s after a
cue is outside the live table's span (the trial is scored there, as offline `evaluate` scores it) but inside the
references' epoch (0.5-2.5 s), so the references leave that trial out and say so (review s20 #1: they applied every
mark but the named ones). And the service-vs-offline comparison finds the left-out cues of a train-made model whose
``data.label_window`` starts after the cue (review s20 #2: it read the cue's own, never labelled, sample).

Real EEG: the repository's S001 R05 (first 50 s) and R06 subset as BrainVision Recorder files
(``tests/support/brainvision.py``); the bundled ``eegmmidb-s001-gru`` card.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from bci_stream.core.registry import read_card  # noqa: E402
from bci_stream.io import load_recording  # noqa: E402
from bci_stream.train.evaluate.live_trials import leave_out_marked, left_out_cues, load_streamed  # noqa: E402
from bci_stream.train.evaluate.live import references  # noqa: E402
from support.brainvision import STIMULI, write_brainvision  # noqa: E402
from support.common import REPO, subset_file  # noqa: E402
from support.marked import R05, R06  # noqa: E402

CARD = read_card(REPO / "models" / "eegmmidb-s001-gru" / "model.json")
LABELS = {"Stimulus/S  1": "fists", "Stimulus/S  2": "feet"}
N_TIMES = 8000  # the first 50 s of R05: 6 cues


def _vhdr(stem: Path, src: Path, n_times: int | None = None, extra=()) -> Path:
    rec = load_recording(subset_file(src))
    n = rec.n_times if n_times is None else n_times
    marks = [("Stimulus", STIMULI[e.description], e.onset, 1) for e in rec.events
             if e.description in STIMULI and e.onset < n]
    return write_brainvision(stem, np.rint(rec.data[:, :n] * 10) / 10, rec.sfreq, rec.ch_names,
                             markers=marks + list(extra))


def _cue_onsets() -> list[int]:
    return [e.onset for e in load_recording(subset_file(R05)).events if e.description in ("T1", "T2")
            and e.onset < N_TIMES]


def test_the_references_leave_out_a_trial_a_named_mark_reaches_in_their_epoch(tmp_path: Path) -> None:
    on = _cue_onsets()
    test = _vhdr(tmp_path / "r05", R05, N_TIMES, extra=[("Comment", "reject", on[5] + 352, 1)])  # cue 5 + 2.2 s
    t = load_streamed(test, LABELS, CARD, {}, None, "--data")
    train = load_streamed(_vhdr(tmp_path / "r06", R06), LABELS, CARD, {}, None, "--data")
    left, _ = leave_out_marked(t, ["Comment/reject"], 2.0, set(LABELS))  # the table: decision times up to 2 s
    assert left is None  # the mark is after the last decision: the table scores every trial, as offline
    ids = [list(CARD.output.labels).index(c) for c in ("fists", "feet")]
    refs, notes = references([train], [t], 160.0, ids, (0.5, 2.5), bad_events=["Comment/reject"], cues=set(LABELS))
    assert refs["reference"]["overall"]["n_trials"] == len(on) - 1
    assert refs["reference_ts_lr"]["overall"]["n_trials"] == len(on) - 1
    assert "epoch references: left out 1 trial(s) of r05.vhdr: 1 overlap Comment/reject" in " ".join(notes), notes


def test_the_left_out_cues_are_found_under_a_label_window_that_starts_after_the_cue(tmp_path: Path) -> None:
    on = _cue_onsets()
    blink = [("Bad Interval", "Bad Min-Max", on[k] + 240, 32) for k in (1, 3)]  # 1.5 s after cues 1 and 3
    vhdr = _vhdr(tmp_path / "r05", R05, N_TIMES, extra=blink)
    training = {**CARD.training, "config": {"data": {"label_window": [0.5, 4.0], "reader": {}}}}
    card = CARD.model_copy(update={"training": training})
    d = load_streamed(vhdr, LABELS, card, {}, None, "--data")
    left, unscored = leave_out_marked(d, [], 3.0, set(LABELS))
    assert left is not None and left["n"] == 2
    assert left_out_cues(on, unscored, lead=80) == [on[1], on[3]]  # labelled from cue + 0.5 s
    assert left_out_cues(on, unscored) == []  # read at the cue itself, never labelled: the bug
