"""A decoder that gives every trial the same class: said as a warning by ``evaluate``, offline and live.

Its accuracy is then the share of that class among the trials, and the per-class line (``left 0/16, right 14/14``)
is easy to read past: a subject's decoder calibrated on one session and tested on later runs can end up there when
the data moved (electrode contact, the task, another day). Audit s60cal O1: S004 calibrated on R03/R04/R07/R08 (CV
0.75 at 2 s, above chance) decided "right" for all 30 trials of R11/R12, without a word from ``evaluate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The fewest decided trials for the warning: a decoder that decides at random gives every one of 10 trials of two
#: classes the same class with probability 2 × 0.5^10 = 0.2 %.
MIN_TRIALS = 10


def one_class_warning(trial_accuracy: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The warning for the decision times (keys of ``trial_accuracy``, ``"2s"``; rows of
    :func:`~bci_stream.train.evaluate.metrics.evaluate_probs`) at which every decided trial, at least
    :data:`MIN_TRIALS` of two or more classes, was decided as one class; None when there is none."""
    hits = []
    for t, row in trial_accuracy.items():
        n, per, decided = row.get("n_trials") or 0, row.get("instant_per_class") or {}, row.get("instant_decided")
        if not decided or n < MIN_TRIALS or sum(1 for _, total in per.values() if total) < 2:
            continue
        if only := [c for c, k in decided.items() if k == n]:
            hits.append((t, only[0], per))
    if not hits:
        return None
    classes = {c for _, c, _ in hits}
    named = [t for t, _, _ in hits] if len(classes) == 1 else [f"{t} '{c}'" for t, c, _ in hits]
    at = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
    t, c, per = hits[-1]
    recall = ", ".join(f"{name} {k}/{total}" for name, (k, total) in per.items())
    said = f"every trial was decided '{c}'" if len(classes) == 1 else "every trial was decided as one class"
    return (f"at {at} after the cue {said} (per class at {t}: {recall}): the decoder does not tell the classes apart "
            "on these files, and its accuracy there is the share of that class; the data may have moved since "
            "calibration (another session, electrode contact, the task): recalibrate, or calibrate on runs nearer "
            "these")
