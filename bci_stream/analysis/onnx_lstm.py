"""The ``LSTM`` nodes of a step graph, rebuilt in numpy from the ONNX file.

:func:`lstm_layers` parses the graph's ``LSTM`` nodes (with ``onnx``) into per-layer float64 weights in
layer order, refusing any layout other than the one the exporter writes; :func:`lstm_chunk` runs that
stacked LSTM in numpy and returns, besides the final states, the forget-gate activation of every unit
at every sample (onnxruntime does not expose the gates); :func:`lstm_input_session` is a session of the
step graph that also outputs the tensor the first ``LSTM`` node reads, so the numpy LSTM can be fed
exactly what onnxruntime feeds it.

ONNX conventions (operator ``LSTM``, layout 0): gates are stacked in the order ``i, o, f, c``;
``W [1, 4H, in]``, ``R [1, 4H, H]``, ``B [1, 8H]`` (``Wb`` then ``Rb``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bci_stream.engine.step_model import make_session
from bci_stream.core.errors import ModelError
from bci_stream.core.registry import ModelEntry

__all__ = ["input_width", "lstm_layers", "lstm_chunk", "lstm_input_session"]

#: Shape-only ops followed back when tracing which tensor an ``LSTM`` node reads.
_PASS_THROUGH = {"Squeeze", "Unsqueeze", "Transpose", "Identity", "Reshape", "Cast"}


def _graph_tensors(graph: Any) -> dict[str, np.ndarray]:
    """Every constant tensor of the graph: initializers and ``Constant`` node outputs."""
    from onnx import numpy_helper

    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    tensors[node.output[0]] = numpy_helper.to_array(attr.t)
    return tensors


def _lstm_graph(entry: ModelEntry) -> tuple[Any, list[Any], dict[str, np.ndarray]]:
    """Load the step graph with ``onnx``; return ``(proto, LSTM nodes in layer order, constant tensors)``.

    Layer ``k > 0`` must read the ``Y`` output of layer ``k - 1`` (through shape-only ops); exactly one
    ``LSTM`` node, layer 0, reads anything else: in a step graph, the preprocessing's output.
    """
    import onnx

    ref = entry.card.ref
    arch = entry.card.architecture
    try:
        proto = onnx.load(str(entry.onnx_path))
    except Exception as exc:  # onnx raises several types for a corrupt file
        raise ModelError(f"model '{ref}': onnx cannot load {entry.onnx_path}: {exc}") from None
    graph = proto.graph
    producer = {out: node for node in graph.node for out in node.output}
    lstm_nodes = [n for n in graph.node if n.op_type == "LSTM"]
    if len(lstm_nodes) != arch.n_layers:
        raise ModelError(
            f"model '{ref}': the ONNX graph must have one LSTM node per layer (n_layers={arch.n_layers}), "
            f"found {len(lstm_nodes)}"
        )

    def source(name: str) -> tuple[str, Any]:
        """Follow shape-only ops back to a graph input, an LSTM output or another computation."""
        seen = 0
        while name in producer and producer[name].op_type in _PASS_THROUGH and seen < 16:
            name = producer[name].input[0]
            seen += 1
        return name, producer.get(name)

    # order the layers: layer k > 0 reads the Y output of layer k-1; layer 0 reads the network input
    by_input: dict[str, Any] = {}
    first = []
    for node in lstm_nodes:
        name, prod = source(node.input[0])
        if prod is None or prod.op_type != "LSTM":
            first.append(node)
            continue
        if prod.output[0] != name or name in by_input:
            raise ModelError(
                f"model '{ref}': LSTM node {node.name!r} must read the network input or the Y output of one "
                f"other LSTM node (a stacked LSTM), but reads {name!r}"
            )
        by_input[name] = node
    if len(first) != 1:
        raise ModelError(
            f"model '{ref}': exactly one LSTM node (layer 0) must read the network input, "
            f"found {len(first)}: {[n.name for n in first]}"
        )
    ordered = []
    node = first[0]
    while node is not None:
        ordered.append(node)
        node = by_input.pop(node.output[0], None)
    if len(ordered) != arch.n_layers:
        raise ModelError(
            f"model '{ref}': the LSTM nodes must form one chain of n_layers={arch.n_layers} layers, "
            f"found a chain of {len(ordered)}"
        )
    return proto, ordered, _graph_tensors(graph)


def input_width(entry: ModelEntry) -> int:
    """What layer 0 reads per sample: ``architecture.power_filters`` squared spatial filters when the card
    has that front-end (:class:`~bci_stream.train.nets.rnn.CausalRNN`), else the card's channels."""
    filters = (entry.card.architecture.model_extra or {}).get("power_filters")
    return int(filters) if filters else entry.card.n_chans


def lstm_layers(entry: ModelEntry) -> list[dict[str, np.ndarray]]:
    """Parse the ONNX ``LSTM`` nodes into per-layer numpy weights, in layer order.

    Each layer gets ``W [4H, in]``, ``R [4H, H]`` and ``b [4H]`` (``Wb + Rb``), gates in ONNX order
    ``i, o, f, c``. Anything outside the layout the exporter writes (one forward LSTM node per layer,
    default activations, no clip, no peepholes, layer ``k`` fed by layer ``k-1``'s ``Y``) is refused.
    """
    from onnx import helper

    ref = entry.card.ref
    arch = entry.card.architecture
    _, ordered, tensors = _lstm_graph(entry)

    layers = []
    h = arch.hidden_size
    for k, node in enumerate(ordered):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        problems = []
        if attrs.get("hidden_size", h) != h:
            problems.append(f"hidden_size={attrs['hidden_size']} (card: {h})")
        direction = attrs.get("direction", b"forward")
        if (direction.decode() if isinstance(direction, bytes) else direction) != "forward":
            problems.append(f"direction={direction!r} (must be forward)")
        acts = [a.decode() if isinstance(a, bytes) else a for a in attrs.get("activations", [])]
        if acts and [a.lower() for a in acts] != ["sigmoid", "tanh", "tanh"]:
            problems.append(f"activations={acts} (must be Sigmoid, Tanh, Tanh)")
        for name in ("clip", "activation_alpha", "activation_beta"):
            if name in attrs:
                problems.append(f"{name} is set")
        if attrs.get("input_forget", 0) != 0:
            problems.append("input_forget=1 (coupled gates)")
        if attrs.get("layout", 0) != 0:
            problems.append(f"layout={attrs['layout']} (must be 0)")
        if len(node.input) > 4 and node.input[4]:
            problems.append("sequence_lens is given")
        if len(node.input) > 7 and node.input[7]:
            problems.append("peephole weights P are given")
        missing = [node.input[i] for i in (1, 2) if node.input[i] not in tensors]
        if missing:
            problems.append(f"weights {missing} are not constant tensors")
        if problems:
            raise ModelError(
                f"model '{ref}': LSTM layer {k} (node {node.name!r}) has a layout introspection does not "
                f"support: {'; '.join(problems)}"
            )
        w = tensors[node.input[1]].astype(np.float64)
        r = tensors[node.input[2]].astype(np.float64)
        n_in = arch.hidden_size if k else input_width(entry)
        if w.shape != (1, 4 * h, n_in) or r.shape != (1, 4 * h, h):
            raise ModelError(
                f"model '{ref}': LSTM layer {k} weights must have shapes W (1, {4 * h}, {n_in}) and "
                f"R (1, {4 * h}, {h}), got {w.shape} and {r.shape}"
            )
        if len(node.input) > 3 and node.input[3]:
            if node.input[3] not in tensors:
                raise ModelError(f"model '{ref}': LSTM layer {k} bias {node.input[3]!r} is not a constant tensor")
            b = tensors[node.input[3]].astype(np.float64)
            if b.shape != (1, 8 * h):
                raise ModelError(f"model '{ref}': LSTM layer {k} bias B must have shape (1, {8 * h}), got {b.shape}")
            bias = b[0, : 4 * h] + b[0, 4 * h :]
        else:
            bias = np.zeros(4 * h)
        layers.append({"W": w[0], "R": r[0], "b": bias})
    return layers


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function, written with tanh so that it does not overflow for large ``|z|``."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def lstm_chunk(
    layers: list[dict[str, np.ndarray]], x: np.ndarray, h0: np.ndarray, c0: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the stacked ONNX LSTM over ``x [T, C]`` from ``h0, c0 [L, H]`` (float64).

    Returns the final ``h, c [L, H]`` and the forget-gate activations ``f [L, T, H]``.
    """
    n_t = x.shape[0]
    hsz = h0.shape[1]
    hn, cn = h0.copy(), c0.copy()
    forget = np.empty((len(layers), n_t, hsz))
    inp = x
    for k, layer in enumerate(layers):
        pre_in = inp @ layer["W"].T + layer["b"]  # [T, 4H], gates i, o, f, c
        h, c = hn[k].copy(), cn[k].copy()
        out = np.empty((n_t, hsz))
        r_t = layer["R"].T
        for t in range(n_t):
            z = pre_in[t] + h @ r_t
            i = _sigmoid(z[:hsz])
            o = _sigmoid(z[hsz : 2 * hsz])
            f = _sigmoid(z[2 * hsz : 3 * hsz])
            g = np.tanh(z[3 * hsz :])
            c = f * c + i * g
            h = o * np.tanh(c)
            forget[k, t] = f
            out[t] = h
        hn[k], cn[k] = h, c
        inp = out
    return hn, cn, forget


def lstm_input_session(entry: ModelEntry) -> tuple[Any, str]:
    """A session of the step graph that also outputs the tensor its layer-0 ``LSTM`` node reads.

    That tensor (``X [T, B, C]``, ONNX layout 0) is the preprocessed input as onnxruntime computes it,
    so the numpy LSTM and onnxruntime start from the same input. Returns ``(session, tensor name)``.
    """
    import onnx

    proto, ordered, _ = _lstm_graph(entry)
    name = ordered[0].input[0]
    if name not in {o.name for o in proto.graph.output}:
        proto.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return make_session(proto.SerializeToString()), name
