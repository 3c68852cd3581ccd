"""The single-sample specialisation of a step graph, written beside it at export (``model.step1.onnx``).

The step graph keeps B (streams) and T (samples) free; for one sample of one stream onnxruntime still runs
every data-movement node of the general graph (about half a microsecond each). This graph is the same
computation with B = T = 1 fixed and those nodes removed:

* a Transpose whose permutation moves only size-1 axes copies data to the same layout: its consumers read
  its input instead (torch's batch-first Transposes);
* the Squeeze of a recurrent layer's output sequence ``Y [1, 1, 1, H]``: for one step its consumers read
  the layer's last state ``Y_h [1, 1, H]`` (the same numbers), and ``Y`` is not computed;
* a recurrent state ``s [L, B, H]`` that the graph only slices per layer (``Slice(s, l, l + 1, axis 0)``),
  with an output that is only ``Concat(axis 0)`` of L per-layer tensors, becomes L inputs ``s/l`` and L
  outputs ``s_out/l`` of shape ``[1, 1, H]``: the runtime binds them to the rows of its ``[L, 1, H]``
  buffers.

A graph that does not match a pattern keeps that part unchanged; the result computes the same values, and
export checks it (the parity check runs single samples through this graph).
"""

from __future__ import annotations

import numpy as np
import onnx

from bci_stream.core.contract import StepSpec


def single_step_graph(model: onnx.ModelProto, spec: StepSpec) -> tuple[onnx.ModelProto, dict[str, int]] | None:
    """``(graph, split)`` for one sample of one stream, or None when shape inference cannot fix the shapes.

    ``split`` maps a recurrent state's graph input to its number of per-layer inputs (``input/l``).
    """
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    for value in [*g.input, *g.output]:
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = 1
    del g.value_info[:]
    try:
        m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    except Exception:  # an op shape inference does not know: keep the graph as exported
        return None
    g = m.graph
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else 0 for d in v.type.tensor_type.shape.dim]
              for v in [*g.input, *g.value_info, *g.output]}
    graph_outputs = {o.name for o in g.output}
    consts = {t.name: onnx.numpy_helper.to_array(t) for t in g.initializer}
    for node in g.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            consts[node.output[0]] = onnx.numpy_helper.to_array(node.attribute[0].t)

    # Transposes that move no data; Squeezes of a one-step recurrent output (read its last state instead).
    rename: dict[str, str] = {}
    producer: dict[str, onnx.NodeProto] = {}
    kept = []
    for node in g.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
        if node.output and node.output[0] not in graph_outputs:
            alias = _same_data(node, shapes, producer)
            if alias is not None:
                rename[node.output[0]] = alias
                continue
        producer.update({o: node for o in node.output})
        kept.append(node)
    read = {i for n in kept for i in n.input} | graph_outputs
    for node in kept:  # a recurrent node's full output sequence Y nobody reads any more: not computed
        if node.op_type in _RNN_OPS and node.output[0] and node.output[0] not in read:
            node.output[0] = ""

    # Per-layer recurrent state.
    io_of = {s.input: s.output for s in spec.states if s.role == "recurrent"}
    state_in = [v for v in g.input if v.name in io_of]
    out_by_name = {v.name: v for v in g.output}
    state_out = [out_by_name[io_of[v.name]] for v in state_in]
    split: dict[str, int] = {}
    new_inputs = {v.name: [v] for v in g.input}
    new_outputs = {v.name: [v] for v in g.output}
    for s_in, s_out in zip(state_in, state_out):
        dims = shapes.get(s_in.name)
        if not dims or len(dims) != 3 or not all(dims):
            continue
        n_layers, hidden = dims[0], dims[2]
        users = [n for n in kept if s_in.name in n.input]
        layer_of = {}
        for n in users:
            layer = _layer_slice(n, s_in.name, consts)
            if layer is None:
                break
            layer_of[n.output[0]] = layer
        else:
            concat = [n for n in kept if s_out.name in n.output]
            if (sorted(layer_of.values()) != list(range(n_layers)) or len(concat) != 1
                    or concat[0].op_type != "Concat" or len(concat[0].input) != n_layers
                    or any(a.name == "axis" and a.i != 0 for a in concat[0].attribute)
                    or any(shapes.get(t) != [1, 1, hidden] for t in concat[0].input)):
                continue
            elem = s_in.type.tensor_type.elem_type
            tensor_names = {out: f"{s_in.name}/{layer}" for out, layer in layer_of.items()}
            tensor_names.update({t: f"{s_out.name}/{l}" for l, t in enumerate(concat[0].input)})
            kept = [n for n in kept if n not in users and n is not concat[0]]
            for n in kept:
                n.input[:] = [tensor_names.get(i, i) for i in n.input]
                n.output[:] = [tensor_names.get(o, o) for o in n.output]
            new_inputs[s_in.name] = [onnx.helper.make_tensor_value_info(f"{s_in.name}/{l}", elem, [1, 1, hidden])
                                     for l in range(n_layers)]
            new_outputs[s_out.name] = [onnx.helper.make_tensor_value_info(f"{s_out.name}/{l}", elem, [1, 1, hidden])
                                       for l in range(n_layers)]
            split[s_in.name] = n_layers

    # Constants nobody reads any more (the Slices' bounds).
    used = {i for n in kept for i in n.input} | {o.name for vs in new_outputs.values() for o in vs}
    kept = [n for n in kept if n.op_type != "Constant" or n.output[0] in used]
    inputs = [v for vs in new_inputs.values() for v in vs]
    outputs = [v for vs in new_outputs.values() for v in vs]
    del g.node[:], g.input[:], g.output[:], g.value_info[:]
    g.node.extend(kept)
    g.input.extend(inputs)
    g.output.extend(outputs)
    onnx.checker.check_model(m)
    return m, split




_RNN_OPS = ("GRU", "LSTM", "RNN")
def _same_data(node: onnx.NodeProto, shapes: dict[str, list[int]],
               producer: dict[str, onnx.NodeProto]) -> str | None:
    """The tensor that holds the same data, in the same shape, as ``node``'s output, or None.

    * a Transpose that only moves size-1 axes and keeps the shape: its input;
    * a Squeeze of the sequence output ``Y [T=1, 1, B, H]`` of a one-directional recurrent node to
      ``[1, B, H]``: that node's last state ``Y_h [1, B, H]``, which for one step is the same data.
    """
    if not node.input:
        return None
    shape_in, shape_out = shapes.get(node.input[0]), shapes.get(node.output[0])
    if not shape_in or not all(shape_in) or not shape_out or not all(shape_out):
        return None
    if node.op_type == "Transpose":
        perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
        moved = [ax for ax in perm or [] if shape_in[ax] != 1]
        return node.input[0] if perm is not None and shape_in == shape_out and moved == sorted(moved) else None
    if node.op_type == "Squeeze":
        rnn = producer.get(node.input[0])
        if rnn is None or rnn.op_type not in _RNN_OPS or rnn.output[0] != node.input[0] or len(rnn.output) < 2:
            return None
        direction = next((a.s for a in rnn.attribute if a.name == "direction"), b"forward")
        last = rnn.output[1]
        if direction == b"forward" and last and len(shape_in) == 4 and shape_in[:2] == [1, 1] \
                and shapes.get(last) == shape_out == shape_in[:1] + shape_in[2:]:
            return last
    return None


def _layer_slice(node: onnx.NodeProto, source: str, consts: dict[str, np.ndarray]) -> int | None:
    """``l`` if ``node`` is ``Slice(source, starts=[l], ends=[l + 1], axes=[0])`` with constant bounds, else None."""
    if node.op_type != "Slice" or node.input[0] != source or len(node.input) < 4:
        return None
    starts, ends, axes = (consts.get(name) for name in node.input[1:4])
    steps = consts.get(node.input[4]) if len(node.input) > 4 and node.input[4] else np.ones(1, np.int64)
    if any(v is None or np.size(v) != 1 for v in (starts, ends, axes, steps)):
        return None
    start = int(np.ravel(starts)[0])
    if int(np.ravel(axes)[0]) != 0 or int(np.ravel(steps)[0]) != 1 or start < 0 or int(np.ravel(ends)[0]) != start + 1:
        return None
    return start
