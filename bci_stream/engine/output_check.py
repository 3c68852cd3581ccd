"""Whether a ``categorical`` model's output rows are class probabilities: export and ``upgrade-model`` check it on
their parity probe (:mod:`bci_stream.train.export.probe_checks`), the service on its warm-up of a model it loads
(:meth:`~bci_stream.engine.step_model.StepModel.warm_up`): a model upgraded before that check, or written by hand,
was served with logits labelled ``probability``."""

from __future__ import annotations

import numpy as np

#: How far a categorical row may be from summing to 1, and a value from [0, 1] (float32 softmax is ~1e-7 off).
PROBABILITY_TOLERANCE = 1e-3


def not_probabilities(y: np.ndarray, tol: float = PROBABILITY_TOLERANCE) -> str | None:
    """What makes the rows of ``y [T, K]`` no probability distributions (a value below 0 or above 1, or a row not
    summing to 1, each within ``tol``), naming the value and its sample; None when they all are. Rows holding a NaN
    or inf are not judged here."""
    y = np.asarray(y, dtype=np.float64)
    rows = np.flatnonzero(np.isfinite(y).all(axis=1)) if y.ndim == 2 else np.empty(0, dtype=np.int64)
    y = y[rows]  # the finite rows; ``rows`` their samples (a NaN row before a bad one counts in the sample named)
    if y.size == 0:
        return None
    sums = y.sum(axis=1)
    if (lo := float(y.min())) < -tol:
        return f"its output has the value {lo:.4g} (sample {int(rows[np.argmin(y.min(axis=1))])})"
    if (hi := float(y.max())) > 1 + tol:
        return f"its output has the value {hi:.4g} (sample {int(rows[np.argmax(y.max(axis=1))])})"
    if (off := float(np.abs(sums - 1).max())) > tol:
        t = int(np.argmax(np.abs(sums - 1)))
        return f"a row sums to {sums[t]:.4g} (sample {int(rows[t])}; {off:.3g} from 1)"
    return None


#: What a categorical model whose rows are no probabilities should do (after "the network ends in logits or scores").
SOFTMAX_ADVICE = ("end it with a softmax over the classes (torch.softmax(logits, dim=-1)), or give the card another "
                  "output.kind ('gaussian' for continuous values)")
