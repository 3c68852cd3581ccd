"""``evaluate``'s p-values test against the chance it prints, the majority share, and its scores say each class's
correct/trials (audit s45, 3-4 class lab F2, F3).

Before: ``*_p_vs_chance`` tested against 1/k while the printed chance was the majority share: in a 4-class run with
half its trials "rest", 26/51 correct (below that chance) had p = 5.9e-05, and a decoder always answering "rest"
p = 1.3e-06; and no output said that a 3-class model above chance got 1 of 8 "left" trials right.
"""

from __future__ import annotations

import numpy as np

from bci_stream.train.evaluate.metrics import evaluate_probs

SFREQ = 100.0


def _run(classes: list[int], answer) -> tuple[np.ndarray, np.ndarray]:
    """A recording of 4 s trials of ``classes`` (labels 0..3), 1 s apart, and a decoder's probabilities: one-hot
    ``answer(true_class)`` everywhere in the trial."""
    n = len(classes) * 500
    labels = np.full(n, -1)
    probs = np.full((n, 4), 0.25)
    for i, c in enumerate(classes):
        labels[i * 500:i * 500 + 400] = c
        probs[i * 500:i * 500 + 400] = np.eye(4)[answer(c)] * 0.9 + 0.025
    return probs, labels


def test_always_the_majority_class_is_not_significant_and_per_class_says_so():
    classes = [0] * 26 + [1] * 9 + [2] * 8 + [3] * 8  # half "rest", as EEGMMIDB runs with T0 scored
    probs, labels = _run(classes, lambda c: 0)
    m = evaluate_probs([probs], [labels], ["rest", "left", "right", "feet"], ["rest", "left", "right", "feet"], SFREQ,
                       times_s=(2.0,))
    row = m["trial_accuracy"]["2s"]
    assert row["instant_correct"] == 26 and m["chance_trial_accuracy"] == 26 / 51
    assert row["instant_p_vs_chance"] > 0.4  # before: 1.3e-06 (against 1/4)
    assert row["instant_per_class"] == {"rest": [26, 26], "left": [0, 9], "right": [0, 8], "feet": [0, 8]}


def test_a_decoder_right_on_every_class_is_significant():
    classes = [0, 1, 2, 3] * 10
    probs, labels = _run(classes, lambda c: c)
    m = evaluate_probs([probs], [labels], ["rest", "left", "right", "feet"], ["rest", "left", "right", "feet"], SFREQ,
                       times_s=(2.0,))
    row = m["trial_accuracy"]["2s"]
    assert row["instant"] == 1.0 and row["instant_p_vs_chance"] < 1e-20
    assert row["instant_per_class"] == {c: [10, 10] for c in ("rest", "left", "right", "feet")}
