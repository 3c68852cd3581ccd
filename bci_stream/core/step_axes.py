"""The axes a step graph's inputs and outputs must have for its card (``step``): the batch axis, along which a shared
worker stacks streams, and the time axis, a chunk of any length, dynamic; every other axis the card's size. A graph
that fixes one of them loaded, passed every check of the registry and then failed on its first chunk, a worker crash
restarted three times (audit s70model F1); now loading it, ``bci-stream models`` and ``/ready`` say why."""

from __future__ import annotations

from pathlib import Path

from bci_stream.core.card import ModelCard
from bci_stream.core.contract import X, Y, StepSpec


#: What a recurrent state's shape must be, said after a refusal of one.
RECURRENT_LAYOUT = ("; a recurrent state must be [L, B, H], the batch B on its axis 1 (as torch.nn.GRU/LSTM take h0 "
                    "and c0), with B dynamic")
_WHY_DYNAMIC = {"batch": "streams are stacked along it", "time": "a chunk has any length"}


def expected_axes(spec: StepSpec) -> dict[str, list[int | str]]:
    """The shape the general graph must give each input and output: a size, or ``"batch"``/``"time"`` for an axis
    that must be dynamic."""
    axes: dict[str, list[int | str]] = {X: ["batch", "time", spec.n_chans], Y: ["batch", "time", spec.n_outputs]}
    for s in spec.states:
        axes[s.input] = axes[s.output] = ["batch" if k == s.batch_axis else n for k, n in enumerate(s.shape)]
    return axes


def shape_problem(shape: list | None, want: list[int | str]) -> str | None:
    """Why an ONNX argument's ``shape`` (ints fixed; names or None dynamic) cannot carry ``want``
    (:func:`expected_axes`), or None."""
    if not shape:  # no shape in the graph: onnxruntime checks at run time
        return None
    if len(shape) != len(want):
        return f"the card's step needs {len(want)} axes ({_show(want)})"
    for k, (have, need) in enumerate(zip(shape, want)):
        if isinstance(need, str) and isinstance(have, int):
            return (f"its axis {k} is the {need} axis, which must be dynamic ({_WHY_DYNAMIC[need]}), not fixed at "
                    f"{have}: export it with dynamic axes ({_show(want)})")
        if isinstance(need, int) and isinstance(have, int) and have != need:
            return f"its axis {k} is {have}, the card says {need} ({_show(want)})"
    return None


def axes_problem(card: ModelCard, shapes: dict[str, list | None], where: Path | str) -> str | None:
    """Why the general step graph ``where`` (its file, or words for it), whose inputs and outputs have ``shapes``
    (name -> shape, as onnxruntime gives them), cannot run ``card``'s step, or None (also for a card without one, or a
    name the graph lacks: the names are checked elsewhere). The reason alone: the caller says whose."""
    if card.step is None:
        return None
    recurrent = {n for s in card.step.states if s.role == "recurrent" for n in (s.input, s.output)}
    for name, want in expected_axes(card.step).items():
        if name in shapes and (why := shape_problem(shapes[name], want)) is not None:
            batch = name in recurrent and "is the batch axis" in why  # a batch-first state, most likely
            return f"ONNX {name!r} of {where} has shape {shapes[name]}; {why}" + (RECURRENT_LAYOUT if batch else "")
    return None


def _show(want: list[int | str]) -> str:
    return "[" + ", ".join(str(n) for n in want) + "]"


__all__ = ["RECURRENT_LAYOUT", "axes_problem", "expected_axes", "shape_problem"]
