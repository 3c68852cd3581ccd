"""``evaluate`` warns of a decoder that gave every trial the same class (audit s60cal O1: S004's decoder said "right"
for all 30 trials of R11/R12, 14/30, and only the per-class line showed it). The decisions are the real
``evaluate_probs``'s, on decoder outputs made to answer as each case needs."""

from __future__ import annotations

import numpy as np

from bci_stream.train.evaluate.metrics import evaluate_probs
from bci_stream.train.evaluate.one_class import MIN_TRIALS, one_class_warning

SFREQ = 100.0
NAMES = ["rest", "left", "right"]


def _run(classes: list[int], answer) -> tuple[np.ndarray, np.ndarray]:
    """4 s trials of ``classes``, 1 s apart; the decoder answers ``answer(i, true_class, t_s)`` at each sample."""
    n = len(classes) * 500
    labels, probs = np.full(n, -1), np.full((n, 3), 1 / 3)
    for i, c in enumerate(classes):
        labels[i * 500:i * 500 + 400] = c
        for j in range(400):
            probs[i * 500 + j] = np.eye(3)[answer(i, c, j / SFREQ)] * 0.9 + 0.1 / 3
    return probs, labels


def _trial_accuracy(classes: list[int], answer) -> dict:
    probs, labels = _run(classes, answer)
    return evaluate_probs([probs], [labels], NAMES, ["left", "right"], SFREQ, times_s=(1.0, 2.0, 3.0))["trial_accuracy"]


def test_every_trial_decided_right_is_warned_of_with_the_times_and_the_per_class_counts():
    acc = _trial_accuracy([1] * 16 + [2] * 14, lambda i, c, t: 2)
    assert acc["2s"]["instant_decided"] == {"left": 0, "right": 30}
    said = one_class_warning(acc)
    assert said is not None and said.startswith("at 1s, 2s and 3s after the cue every trial was decided 'right' "
                                                "(per class at 3s: left 0/16, right 14/14)"), said


def test_only_the_times_at_which_it_happens_are_named():
    acc = _trial_accuracy([1, 2] * 8, lambda i, c, t: 2 if t < 1.5 else c)  # one class at first, then right
    said = one_class_warning(acc)
    assert said is not None and said.startswith("at 1s after the cue every trial was decided 'right'"), said


def test_a_decoder_that_tells_the_classes_apart_or_errs_both_ways_is_not_warned_of():
    assert one_class_warning(_trial_accuracy([1, 2] * 8, lambda i, c, t: c)) is None
    assert one_class_warning(_trial_accuracy([1, 2] * 8, lambda i, c, t: 3 - c if i % 3 else c)) is None


def test_too_few_trials_or_one_class_only_is_not_warned_of():
    few = [1, 2] * ((MIN_TRIALS - 1) // 2)
    assert one_class_warning(_trial_accuracy(few, lambda i, c, t: 2)) is None
    assert one_class_warning(_trial_accuracy([2] * 20, lambda i, c, t: 2)) is None  # a run of one class: right
