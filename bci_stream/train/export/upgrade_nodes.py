"""What ``upgrade-model`` reads of a format-1 graph's own recurrent nodes (ONNX ``GRU``/``LSTM``, one per layer as
torch exports them), beside its inputs and outputs (:mod:`~bci_stream.train.export.upgrade_checks`):

* the layer count and hidden size, against the card's ``architecture``, where the state's axes are all dynamic and
  say neither (before: onnxruntime's "Got invalid dimensions for output: state_out/h0", or a tensor of the rebuilt
  graph named: audit s69classic F6);
* which state each of an LSTM's state inputs and outputs is: torch returns ``out, (h, c)``, and an export that names
  them ``y, cn, hn`` (or takes ``x, c0, h0``) runs each state in the other's place; its step graph then differs from
  the net and was refused as "not causal" (audit s69classic F5).
"""

from __future__ import annotations

from collections.abc import Iterable

import onnx

from bci_stream.core.card import ModelCard
from bci_stream.core.errors import ModelError

#: Nodes a state passes through between a graph input or output and a recurrent node's state (torch's exports slice,
#: squeeze and concatenate the layers' states).
_PASS = {"Identity", "Squeeze", "Unsqueeze", "Concat", "Reshape", "Transpose", "Cast", "Slice", "Gather", "Split"}
#: An ONNX LSTM node's state inputs (initial_h, initial_c) and outputs (Y_h, Y_c), by position.
_LSTM_IN = {5: "h0", 6: "c0"}
_LSTM_OUT = {1: "hn", 2: "cn"}


def check_nodes(core: onnx.ModelProto, card: ModelCard, where: str) -> None:
    """Refuse (:class:`ModelError`, one line) a graph whose recurrent nodes contradict the card, or an LSTM whose
    state names are swapped."""
    arch = card.architecture
    cells = [n for n in core.graph.node if n.op_type == str(arch.cell).upper()]
    if not cells:
        return  # no such node (another export of the cell): the rebuild's own checks stand
    if len(cells) != arch.n_layers and not any(_bidir(n) for n in cells):
        raise ModelError(f"{where}: the graph has {len(cells)} {arch.cell.upper()} layer(s) (one node each), but the "
                         f"card says architecture.n_layers={arch.n_layers}")
    sizes = {a.i for n in cells for a in n.attribute if a.name == "hidden_size"}
    if len(sizes) == 1 and (size := sizes.pop()) != arch.hidden_size:
        raise ModelError(f"{where}: the graph's {arch.cell.upper()} layers have a hidden size of {size}, but the card "
                         f"says architecture.hidden_size={arch.hidden_size}")
    if arch.cell == "lstm":
        _check_lstm_names(core, where)


def _bidir(node: onnx.NodeProto) -> bool:
    return any(a.name == "direction" and a.s == b"bidirectional" for a in node.attribute)


def _check_lstm_names(core: onnx.ModelProto, where: str) -> None:
    producers = {out: node for node in core.graph.node for out in node.output}
    consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in core.graph.node:
        for k, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, k))
    checks = (("output", ("hn", "cn"), lambda name: _back(name, producers), "its {state} state; torch's nn.LSTM "
               "returns out, (h, c): export with output_names=['y', 'hn', 'cn'] in that order"),
              ("input", ("h0", "c0"), lambda name: _forward(name, consumers), "its {state} state; nn.LSTM takes x, "
               "(h0, c0): export with input_names=['x', 'h0', 'c0'] in that order"))
    for side, (h, c), reach, advice in checks:
        for name, other, state in ((h, c, "cell"), (c, h, "hidden")):
            if set(reach(name)) == {other}:  # it reaches only the other state (none: not traced, nothing said)
                raise ModelError(f"{where}: the LSTM's state {side}s are swapped: {side} {name!r} "
                                 f"{'is' if side == 'output' else 'feeds'} " + advice.format(state=state))


def _back(name: str, producers: dict[str, onnx.NodeProto], depth: int = 0) -> Iterable[str]:
    """The LSTM state outputs (``hn``/``cn``) value ``name`` comes from, through :data:`_PASS` nodes."""
    node = producers.get(name)
    if node is None or depth > 20:
        return
    if node.op_type == "LSTM":
        if (state := _LSTM_OUT.get(list(node.output).index(name))) is not None:
            yield state
        return
    if node.op_type in _PASS:
        for source in node.input:
            yield from _back(source, producers, depth + 1)


def _forward(name: str, consumers: dict[str, list[tuple[onnx.NodeProto, int]]], depth: int = 0) -> Iterable[str]:
    """The LSTM state inputs (``h0``/``c0``) value ``name`` feeds, through :data:`_PASS` nodes."""
    if depth > 20:
        return
    for node, k in consumers.get(name, []):
        if node.op_type == "LSTM":
            if (state := _LSTM_IN.get(k)) is not None:
                yield state
        elif node.op_type in _PASS and k == 0:  # the value itself, not a shape or an index
            for out in node.output:
                yield from _forward(out, consumers, depth + 1)
