"""Rules that pick a candidate (and a family) from cross-validated trial decisions.

A rule maps a :class:`~.cv.CvResult` to a score tuple (higher is better; ties broken by the next
element, then by candidate order). The rules compared by :mod:`.selection_study`:

* ``acc2``: accuracy at the decision time (2 s), then the mean over :data:`~.configs.EVAL_TIMES`;
* ``accwin``: mean accuracy over :data:`WINDOW_TIMES` (1.5-2.5 s after cue), then ``acc2``;
* ``nll2``: mean log-likelihood of the true class at 2 s;
* ``nllwin``: mean log-likelihood of the true class over :data:`WINDOW_TIMES`.

Accuracy of a few dozen trials moves in steps of one trial; the log-likelihood and the window mean use
more of what the CV saw, so they separate candidates that tie (or differ by one trial) on accuracy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bci_stream.train.classical.configs import DECISION_TIME, EVAL_TIMES
from bci_stream.train.classical.cv import CvResult

WINDOW_TIMES: tuple[float, ...] = (1.5, 1.75, 2.0, 2.25, 2.5)
#: Times at which a CV must decide for every rule to be computable.
RULE_TIMES: tuple[float, ...] = tuple(sorted(set(EVAL_TIMES) | set(WINDOW_TIMES)))
PROB_FLOOR = 1e-6
DIGITS = 9

Rule = Callable[[CvResult], tuple[float, ...]]


def _columns(cv: CvResult, times: tuple[float, ...]) -> list[int]:
    idx = {round(t, 6): j for j, t in enumerate(cv.eval_times)}
    try:
        return [idx[round(t, 6)] for t in times]
    except KeyError as exc:
        raise ValueError(f"cv.eval_times must contain {times}, got {cv.eval_times}") from exc


def accuracy(probs: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Accuracy per time column of ``probs [N, T, K]`` against ``classes [N]``."""
    if len(classes) == 0:
        return np.zeros(probs.shape[1])
    return (probs.argmax(axis=-1) == classes[:, None]).mean(axis=0)


def log_likelihood(probs: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Mean log-probability of the true class per time column (probabilities floored at ``PROB_FLOOR``)."""
    if len(classes) == 0:
        return np.zeros(probs.shape[1])
    p = probs[np.arange(len(classes)), :, classes]
    return np.log(np.maximum(p, PROB_FLOOR)).mean(axis=0)


def _r(x: float) -> float:
    """Scores rounded so that equal counts compare equal (a mean of fractions differs in its last bits)."""
    return round(float(x), DIGITS)


def _acc2(cv: CvResult) -> tuple[float, ...]:
    return _r(cv.acc[DECISION_TIME]), _r(np.mean([cv.acc[t] for t in EVAL_TIMES]))


def _accwin(cv: CvResult) -> tuple[float, ...]:
    acc = accuracy(cv.probs, cv.classes)[_columns(cv, WINDOW_TIMES)]
    return _r(acc.mean()), _r(cv.acc[DECISION_TIME])


def _nll2(cv: CvResult) -> tuple[float, ...]:
    return (_r(log_likelihood(cv.probs, cv.classes)[_columns(cv, (DECISION_TIME,))][0]),)


def _nllwin(cv: CvResult) -> tuple[float, ...]:
    return (_r(log_likelihood(cv.probs, cv.classes)[_columns(cv, WINDOW_TIMES)].mean()),)


RULES: dict[str, Rule] = {"acc2": _acc2, "accwin": _accwin, "nll2": _nll2, "nllwin": _nllwin}
#: Each rule's score tuple in words (what its first element is, and what breaks its ties), for reports.
RULE_TERMS: dict[str, tuple[str, str]] = {
    "acc2": (f"CV accuracy at {DECISION_TIME:g} s",
             "mean CV accuracy over " + "/".join(f"{t:g}" for t in EVAL_TIMES) + " s"),
    "accwin": (f"mean CV accuracy over {WINDOW_TIMES[0]:g}-{WINDOW_TIMES[-1]:g} s",
               f"CV accuracy at {DECISION_TIME:g} s"),
    "nll2": (f"CV log-likelihood of the true class at {DECISION_TIME:g} s", "candidate order"),
    "nllwin": (f"mean CV log-likelihood of the true class over {WINDOW_TIMES[0]:g}-{WINDOW_TIMES[-1]:g} s",
               "candidate order"),
}


def best_index(results: list[CvResult], rule: str) -> int:
    """Index of the best result under ``rule`` (the earlier one wins ties)."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {sorted(RULES)}, got {rule!r}")
    score = RULES[rule]
    return max(range(len(results)), key=lambda i: (score(results[i]), -i))


__all__ = ["PROB_FLOOR", "RULES", "RULE_TERMS", "RULE_TIMES", "WINDOW_TIMES", "accuracy", "best_index",
           "log_likelihood"]
