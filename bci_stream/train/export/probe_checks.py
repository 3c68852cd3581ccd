"""What export and ``upgrade-model`` check in the outputs of their parity probe besides parity: that the model's own
output is finite, and that a ``categorical`` model outputs probabilities (before, logits were served labelled
``probability``); that it decodes several streams in one call as each alone; and, when parity fails, whether the graph
depends on how many samples a call gets."""

from __future__ import annotations

from typing import Any

import numpy as np

from bci_stream.core.errors import error_line
from bci_stream.engine.output_check import PROBABILITY_TOLERANCE, SOFTMAX_ADVICE, not_probabilities


def reference_problem(ref: str, kind: str, y_ref: np.ndarray) -> str | None:
    """Why the offline reference output ``y_ref [T, K]`` of model ``ref`` (card ``output.kind`` ``kind``) cannot be
    served, or None: a NaN or inf (the model itself, not the step graph), or a categorical row that is no probability
    distribution (each value in [0, 1], the row summing to 1 within :data:`PROBABILITY_TOLERANCE`)."""
    head = f"export of {ref} refused"
    bad = np.argwhere(~np.isfinite(y_ref))
    if len(bad):
        t, k = (int(i) for i in bad[0])
        return (f"{head}: the model itself outputs {y_ref[t, k]} (NaN or inf) on the parity probe (EEG-sized input, "
                f"{len(y_ref)} samples): first at sample {t}, output {k}, in the offline reference, before any step "
                f"graph ({len(bad)} values in all); the network diverges or divides by zero (its weights, a "
                "standardisation by a std of 0): fix the model")
    if kind != "categorical" or (what := not_probabilities(y_ref)) is None:
        return None
    return (f"{head}: output.kind is 'categorical', so the graph's output 'y' must be class probabilities (each value "
            f"in [0, 1], each row summing to 1 within {PROBABILITY_TOLERANCE:g}), but on the parity probe {what}: the "
            f"network ends in logits or scores; {SOFTMAX_ADVICE}")


def chunking_hint(y_step: np.ndarray, y_chunks: np.ndarray, max_block: int, tolerance: float) -> str:
    """For a parity failure: when the graph run one sample per call and run in blocks of up to ``max_block`` samples
    differ by more than ``tolerance``, a sentence saying the graph depends on how many samples a call gets; else
    ``""``."""
    diff = float(np.abs(y_step - y_chunks).max()) if y_step.size else 0.0
    if not diff > tolerance:
        return ""
    return (f"; the graph run one sample per call and run in blocks of up to {max_block} samples differ by "
            f"{diff:.3g} themselves: its output depends on how many samples a call gets, so it is not causal sample "
            "by sample (e.g. a mean, normalisation or attention over the time axis T, or a bidirectional layer); "
            "the service feeds it any number of samples per call")


def batch_problem(model: Any, x: np.ndarray, y_alone: np.ndarray, tolerance: float) -> str | None:
    """Why step graph ``model`` (a :class:`~bci_stream.engine.step_model.StepModel`) cannot decode several streams in
    one call, as a shared worker does, or None: ``x [T, C]`` and ``x`` reversed decoded together (``step``, batch 2,
    blocks of up to ``max_block``) must give each stream what it gets alone (``y_alone``: ``x`` decoded alone) within
    ``tolerance``. A recurrent state the network reads in another layout than ``[L, B, H]`` (e.g. batch first, then
    transposed inside) passed the one-stream parity probe, and a shared worker's batched call then failed on every
    wake-up (audit s67eng F3)."""
    other = np.ascontiguousarray(x[::-1])
    states, mb, ys = [model.new_state(), model.new_state()], model.spec.max_block, []
    try:
        for t in range(0, len(x), mb):
            ys.append(model.step(np.stack([x[t:t + mb], other[t:t + mb]]), states))
        y_other = model.run(other, model.new_state())
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types for a shape it cannot take
        return f"decoding 2 streams in one call (as a shared worker does) fails: {error_line(exc)}"
    y = np.concatenate(ys, axis=1)
    diff = float(max(np.abs(y[0] - y_alone).max(), np.abs(y[1] - y_other).max())) if y.size else 0.0
    if diff <= tolerance:
        return None
    return (f"decoding 2 streams in one call (as a shared worker does) differs from decoding each alone by {diff:.3g} "
            f"(tolerance {tolerance:g}): a stream's output must depend on its own input and state only")
