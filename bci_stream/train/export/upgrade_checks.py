"""What ``upgrade-model`` checks in a format-1 recurrent graph before it rebuilds it as a step graph: the I/O the
contract names (DESIGN.md: ``x [B, T, C]``, ``h0`` (``c0``) ``[L, B, H]``, outputs ``y``, ``hn`` (``cn``)), float32,
a dynamic T axis, the card's channel and layer counts, and an opset the rebuilt graph can hold. Each mistake is one
line naming the graph's value and the card's, instead of an onnx or onnxruntime traceback from inside the rebuild."""

from __future__ import annotations

from pathlib import Path

import onnx

from bci_stream.core.card import ModelCard
from bci_stream.core.errors import ModelError
from bci_stream.core.units import volts_per_unit
from bci_stream.train.export.graph import OPSET
from bci_stream.train.export.upgrade_nodes import check_nodes

#: Default-domain opsets whose nodes the rebuilt graph (opset :data:`OPSET`) runs as they are: 13 changed Squeeze,
#: Unsqueeze and ReduceSum to take axes as an input; 18 did so for the other reductions (ReduceMean, ...).
OPSETS = range(13, OPSET + 1)


def _dims(value: onnx.ValueInfoProto) -> list[int | str | None]:
    shape = value.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in shape.dim]


def check_core(core: onnx.ModelProto, card: ModelCard, onnx_path: Path) -> None:
    """Refuse (:class:`ModelError`, one line) a format-1 graph the step-graph rebuild cannot take as the card says."""
    where = f"model '{card.ref}': {onnx_path}"
    if volts_per_unit(card.unit) is None:
        raise ModelError(f"model '{card.ref}': the card's unit {card.unit!r} is not a voltage unit the service "
                         "converts (e.g. microvolts, volts, '0.0224 uV'); no decoder could run the upgraded model")
    opset = next((o.version for o in core.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset not in OPSETS:
        raise ModelError(f"{where} is ONNX opset {opset}; upgrade-model rebuilds the graph at opset {OPSET} and "
                         f"takes opsets {OPSETS.start}-{OPSETS.stop - 1}: export it again with "
                         f"torch.onnx.export(..., opset_version={OPSET})")
    arch = card.architecture
    states = ["h0", "c0"] if arch.cell == "lstm" else ["h0"]
    want_out = ["y", "hn", "cn"] if arch.cell == "lstm" else ["y", "hn"]
    outputs = [o.name for o in core.graph.output]
    if sorted(outputs) != sorted(want_out):
        raise ModelError(f"{where} has outputs {outputs}; a {arch.cell} graph must have outputs {want_out} "
                         "(torch.onnx.export(..., output_names=[...]))")
    inputs = {i.name: i for i in core.graph.input}
    typed = [("input", inputs[name]) for name in ["x", *states] if name in inputs]  # (recurrent_graphs names those
    typed += [("output", o) for o in core.graph.output]  # it needs; outputs too: s69classic F3, ORT's internal error)
    for side, value in typed:
        elem = value.type.tensor_type.elem_type
        if elem and elem != onnx.TensorProto.FLOAT:
            raise ModelError(f"{where}: {side} {value.name!r} is {onnx.TensorProto.DataType.Name(elem).lower()}; it "
                             "must be float32 (export the network in float32, not .double())")
    if "x" in inputs:
        dims = _dims(inputs["x"])
        if len(dims) != 3:
            raise ModelError(f"{where}: input 'x' has {len(dims)} dimensions {dims}; it must be [B, T, C]")
        if dims[1] == card.n_chans and not isinstance(dims[2], int):  # [B, C, T] (before: "a fixed T": s67eng F7)
            raise ModelError(f"{where}: input 'x' is [B, C, T], channels first (axis 1 holds the card's n_chans="
                             f"{card.n_chans}, axis 2 is dynamic); it must be [B, T, C]: batch, time, channels last "
                             "(torch.nn.GRU/LSTM(..., batch_first=True) on x of shape [B, T, C])")
        if isinstance(dims[1], int) and dims[1] > 0:
            raise ModelError(f"{where}: input 'x' has a fixed T of {dims[1]} samples; T must be a dynamic axis "
                             "(torch.onnx.export(..., dynamic_axes={'x': {0: 'B', 1: 'T'}, 'y': {0: 'B', 1: 'T'}}))")
        if isinstance(dims[2], int) and dims[2] > 0 and dims[2] != card.n_chans:
            raise ModelError(f"{where}: input 'x' has {dims[2]} channels, but the card says n_chans={card.n_chans}")
    y_out = next((o for o in core.graph.output if o.name == "y"), None)
    k = _dims(y_out)[-1] if y_out is not None and _dims(y_out) else None
    if isinstance(k, int) and k > 0 and k != card.n_outputs:
        raise ModelError(f"{where}: the card's output.labels has {card.n_outputs} labels, but the graph's output 'y' "
                         f"has {k} outputs (its last axis): give one label per output")
    for name in states:
        if name in inputs:
            dims = _dims(inputs[name])
            if dims and isinstance(dims[0], int) and dims[0] > 0 and dims[0] != arch.n_layers:
                raise ModelError(f"{where}: input {name!r} has {dims[0]} layers, but the card says "
                                 f"architecture.n_layers={arch.n_layers}")
            if len(dims) == 3 and isinstance(dims[2], int) and dims[2] > 0 and dims[2] != arch.hidden_size:
                raise ModelError(f"{where}: input {name!r} has a hidden size of {dims[2]} (its last axis), but the "
                                 f"card says architecture.hidden_size={arch.hidden_size}")
    check_nodes(core, card, where)  # the recurrent nodes' own layer count, hidden size and state names
