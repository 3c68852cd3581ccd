"""A label window starting before the cue (``start_s < 0``): a cue closer to the data's start than ``-start_s`` would
have labels from sample 0 (cut), and its cue could not be told from its labels (decided up to ``-start_s`` late). Such
a cue labels nothing; a cue exactly ``-start_s`` after the start is a whole trial; a piece cut at a label's start
(train's validation tail) keeps its first trial (review s21 F2: a rule on runs from sample 0 dropped it). Synthetic
labels: the rule is about sample indices only."""

from __future__ import annotations

import numpy as np

from bci_stream.io.labels import labels_from_events, window_lead
from bci_stream.io.recording import Event
from bci_stream.train.evaluate.metrics import evaluate_probs, find_trials

SFREQ = 100.0
WINDOW = (-0.5, 3.0)
LEAD = window_lead(WINDOW, SFREQ)
LABEL_MAP = {"a": "A", "b": "B"}


def _labels(first_cue: int) -> tuple[np.ndarray, list[str]]:
    events = [Event(first_cue, 0, "a"), Event(first_cue + 600, 0, "b"), Event(first_cue + 1200, 0, "a")]
    return labels_from_events(events, 2000, SFREQ, LABEL_MAP, label_window=WINDOW)


def test_a_cue_whose_window_starts_before_the_data_labels_nothing() -> None:
    labels, names = _labels(first_cue=20)  # its window from 20 - 50 = -30: before the data
    assert (labels[:570] == -1).all()
    trials = find_trials(labels, [0, 1], LEAD)
    assert [t.cue for t in trials] == [620, 1220]  # the later cues, exact (was: a trial with cue 50, 30 late)
    assert [names[t.label] for t in trials] == ["B", "A"]


def test_a_cue_whose_window_starts_at_the_first_sample_is_a_whole_trial() -> None:
    labels, _ = _labels(first_cue=50)
    assert [t.cue for t in find_trials(labels, [0, 1], LEAD)] == [50, 650, 1250]


def test_a_piece_cut_at_a_labels_start_keeps_its_first_trial() -> None:
    labels, _ = _labels(first_cue=20)
    tail = labels[620 + LEAD:]  # as train's tail_cut cuts: at the window's start of a cue
    assert [t.cue for t in find_trials(tail, [0, 1], LEAD)] == [50, 650]  # the cues at 620 and 1220


def test_evaluate_counts_only_the_trials_whose_cue_is_known() -> None:
    labels, names = _labels(first_cue=20)
    probs = np.full((labels.size, 2), 0.5)
    out = evaluate_probs([probs], [labels], names, names, SFREQ, times_s=(1.0,), lead=LEAD)
    assert out["n_trials"] == 2
    assert out["trial_accuracy"]["1s"]["n_trials"] == 2
