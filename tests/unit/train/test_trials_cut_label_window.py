"""A label window starting before the cue (``start_s < 0``) cut at the data's first sample: a cue closer to the start
than ``-start_s`` has labels from sample 0, so its cue cannot be told from its labels and a decision at "cue + t" would
be late by up to ``-start_s``. Such a run is not a trial (before: its cue was taken as ``-lead``, decided late).
Synthetic labels: the rule is about sample indices only."""

from __future__ import annotations

import numpy as np

from bci_stream.io.labels import labels_from_events, window_lead
from bci_stream.io.recording import Event
from bci_stream.train.evaluate.metrics import evaluate_probs, find_trials

SFREQ = 100.0
WINDOW = (-0.5, 3.0)
LABEL_MAP = {"a": "A", "b": "B"}


def _labels(first_cue: int) -> tuple[np.ndarray, list[str]]:
    events = [Event(first_cue, 0, "a"), Event(first_cue + 600, 0, "b"), Event(first_cue + 1200, 0, "a")]
    return labels_from_events(events, 2000, SFREQ, LABEL_MAP, label_window=WINDOW)


def test_a_run_cut_at_the_first_sample_is_not_a_trial_under_a_window_before_the_cue() -> None:
    labels, names = _labels(first_cue=20)  # labels from 20 - 50 = -30: cut at 0
    lead = window_lead(WINDOW, SFREQ)
    trials = find_trials(labels, [0, 1], lead)
    assert [t.cue for t in trials] == [620, 1220]  # the later cues, exact; the cut one left out (was: cue 50)
    assert [names[t.label] for t in trials] == ["B", "A"]


def test_runs_from_the_first_sample_stay_trials_without_a_window_before_the_cue() -> None:
    labels = np.r_[np.zeros(300, dtype=np.int64), -np.ones(100, dtype=np.int64), np.ones(300, dtype=np.int64)]
    assert [t.cue for t in find_trials(labels, [0, 1], 0)] == [0, 400]
    assert [t.cue for t in find_trials(labels, [0, 1], 20)] == [-20, 380]  # a cue before the data: not decided


def test_evaluate_counts_only_the_trials_whose_cue_is_known() -> None:
    labels, names = _labels(first_cue=20)
    probs = np.full((labels.size, 2), 0.5)
    out = evaluate_probs([probs], [labels], names, names, SFREQ, times_s=(1.0,), lead=window_lead(WINDOW, SFREQ))
    assert out["n_trials"] == 2
    assert out["trial_accuracy"]["1s"]["n_trials"] == 2
