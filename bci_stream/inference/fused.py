"""Preprocessing and the decoder step as one onnxruntime call per sample.

:class:`FusedPipeline` is :class:`~bci_stream.signal.preprocess.Preprocessor` followed by
:class:`~bci_stream.inference.decoder.Decoder`, with the per-sample hot path (T = 1) done by a single
``run_with_iobinding``. At load time it builds, in memory, an ONNX graph (:func:`build_fused_model`) that
puts the preprocessing in front of the model's graph:

* the causal SOS filter as a state-space step, ``y_f = C z + D x``, ``z' = A z + B x``, applied to every
  channel at once: the state ``zf [S, C]`` (``S = 2 n_sections``) holds one column per channel, and
  ``zf.reshape(n_sections, 2, C)`` is scipy's ``zi``. The sample and the state share one bound input
  ``xz [1 + S, C]`` (row 0 the sample, written by Python; rows 1.. the state), so the filter is two
  MatMuls: ``y_f = [D, C] @ xz`` and ``zf_out = [B, A] @ xz``. In float64 by default, then a Cast;
* CAR + standardisation as one Gemm, ``y_f @ spatial + offset`` (float32);
* the model's own graph, simplified for B = T = 1 (:func:`simplify_for_single_sample`: no data-free
  Transposes, one state input/output per layer instead of Slice/Concat of ``h0``/``hn``).

Fused graph I/O: inputs ``xz [1 + S, C]`` (float64), ``h0/l [1, 1, H]`` for each layer l (+ ``c0/l``);
outputs ``y [1, 1, K]``, ``zf_out [S, C]``, ``hn/l`` (+ ``cn/l``). A one-layer model keeps ``h0``/``hn``
``[1, 1, H]``; ``simplify=False`` keeps ``h0``/``hn`` ``[L, 1, H]``. Without a filter the input is
``x [1, C]`` (float32) and there is no ``zf_out``. All state is bound once, in two IOBindings over
ping-pong buffers as in :class:`Decoder`: the per-layer names are bound to the rows of the
:class:`DecoderState` buffers, and ``zf_out`` to rows 1.. of the other ``xz`` buffer, so the next sample
only writes its row 0.

Measured on the 2-core benchmark machine (64 ch, GRU H 128, 2 layers; p50 of a single step): the fused
call costs about what the bare model step costs (``Decoder.run`` on preprocessed input, ±1 µs: the graph
simplification saves about what the preprocessing nodes add); the same preprocessing as numpy code
before the step costs about 15 µs more. ``latency_bench.inference`` measures it (variants
``ours_fused``, ``ours_preprocess``, ``ours``).

Chunks (T > 1) go through the unfused path, ``Preprocessor.process`` (``sosfilt``) and ``Decoder.run``,
on the *same* state (the filter state is handed over as ``zi``; the recurrent state is one
:class:`~bci_stream.inference.decoder.DecoderState`). Any mix of chunk sizes gives the result of the
unfused pipeline, float32 rounding apart (``tests/test_fused.py``).

Why float64 for the filter: a narrow band-pass at a high rate (8–30 Hz at 1 kHz) has poles close to the
unit circle, and its state carries the input's DC offset (hundreds of µV to tens of mV on real
amplifiers). Over 20,000 samples of 64-channel synthetic EEG at 1 kHz, the max error of the preprocessed
signal (relative to its std) in float32 was 2e-4 without offsets, 2e-3 with ±500 µV offsets and 0.13
with ±20 mV; in float64 it stays at float32 rounding (5e-6) in all three. ``filter_dtype="float32"``
exists for comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort
from scipy import signal as sps

from bci_stream.errors import ModelError
from bci_stream.inference.card import ModelCard
from bci_stream.inference.decoder import Decoder, DecoderState, make_session
from bci_stream.signal.preprocess import Preprocessor

if TYPE_CHECKING:
    import onnx

FILTER_DTYPES = ("float64", "float32")
FILTER_STATE = "zf"
FILTER_STATE_OUT = "zf_out"
SAMPLE_AND_STATE = "xz"
_PRE_OUT = "pre/x"  # output of the preprocessing part, fed to the model's input "x"


def build_fused_model(model: onnx.ModelProto, preprocessor: Preprocessor, filter_dtype: str = "float64",
                      *, simplify: bool = True) -> onnx.ModelProto:
    """The model's graph with the preprocessing of ``preprocessor`` in front, for single samples.

    Parameters
    ----------
    model
        The exported decoder (input ``x [B, T, C]``, recurrent state I/O); not modified.
    preprocessor
        Its filter (state-space form), CAR and standardisation become graph nodes.
    filter_dtype
        ``"float64"`` or ``"float32"``: the precision of the filter part (its state included).
    simplify
        Simplify the model's graph for B = T = 1 (:func:`simplify_for_single_sample`): per-layer state
        I/O, no data-free Transposes.

    Returns
    -------
    onnx.ModelProto
        With a filter: input ``xz [1 + S, C]`` (``filter_dtype``; row 0 the raw sample, rows 1.. the
        filter state ``zf``) and output ``zf_out [S, C]``; without one, input ``x [1, C]`` (float32).
        Then the model's state I/O: ``h0``/``hn`` (+ ``c0``/``cn``) ``[L, 1, H]``, or, simplified, one
        ``[1, 1, H]`` per layer ``l``: ``h0/l``/``hn/l`` (+ ``c0/l``/``cn/l``); and ``y``.

    Notes
    -----
    The filter is two MatMuls of the state-space matrices by ``xz``: ``y_f = [D, C] @ xz`` and
    ``zf_out = [B, A] @ xz``, so the sample and the state need no Concat and the new state no Split
    (each node costs about half a microsecond here, double-precision ones more). A Cast to float32,
    CAR + standardisation as one Gemm, and a Reshape to ``[1, 1, C]`` follow.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if filter_dtype not in FILTER_DTYPES:
        raise ValueError(f"filter_dtype must be one of {FILTER_DTYPES}, got {filter_dtype!r}")
    n_chans = preprocessor.n_chans
    nodes, inits = [], []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    outputs = [helper.make_tensor_value_info(_PRE_OUT, TensorProto.FLOAT, [1, 1, n_chans])]
    ss = preprocessor.state_space
    if ss is None:
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_chans])]
        cur = "x"
    else:
        a, b, c, d = ss
        n_states = len(a)
        onnx_dtype = TensorProto.DOUBLE if filter_dtype == "float64" else TensorProto.FLOAT
        inputs = [helper.make_tensor_value_info(SAMPLE_AND_STATE, onnx_dtype, [1 + n_states, n_chans])]
        outputs.append(helper.make_tensor_value_info(FILTER_STATE_OUT, onnx_dtype, [n_states, n_chans]))
        out_row = np.concatenate([[[d]], c], axis=1).astype(filter_dtype)  # y_f = D x + C z
        next_state = np.concatenate([b, a], axis=1).astype(filter_dtype)  # z' = B x + A z
        nodes += [
            helper.make_node("MatMul", [const("pre/filter_out", out_row), SAMPLE_AND_STATE], ["pre/y_filt"]),
            helper.make_node("MatMul", [const("pre/filter_next", next_state), SAMPLE_AND_STATE], [FILTER_STATE_OUT]),
        ]
        cur = "pre/y_filt"
        if onnx_dtype != TensorProto.FLOAT:
            nodes.append(helper.make_node("Cast", [cur], ["pre/y_filt32"], to=TensorProto.FLOAT))
            cur = "pre/y_filt32"
    affine = preprocessor.affine
    if affine is not None:
        spatial, offset = affine
        nodes.append(helper.make_node(
            "Gemm", [cur, const("pre/spatial", spatial.astype(np.float32)),
                     const("pre/offset", offset.astype(np.float32))], ["pre/y_spatial"]))
        cur = "pre/y_spatial"
    nodes.append(helper.make_node("Reshape", [cur, const("pre/shape", np.array([1, 1, n_chans], np.int64))],
                                  [_PRE_OUT]))
    graph = helper.make_graph(nodes, "preprocessing", inputs, outputs, initializer=inits)
    pre_model = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    if simplify:
        model = simplify_for_single_sample(model)
    fused = onnx.compose.merge_models(pre_model, model, io_map=[(_PRE_OUT, "x")])
    onnx.checker.check_model(fused)
    return fused


def simplify_for_single_sample(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of an exported decoder graph, simplified for one sample of one stream (B = T = 1).

    Every node costs onnxruntime about half a microsecond, so nodes that do no arithmetic are removed:

    * dynamic dimensions (B, T) are fixed to 1 and shapes inferred; a Transpose whose input shape is
      fully known, equal to its output shape, and whose permutation moves only size-1 axes copies data
      to the same layout: its consumers read its input instead (torch's batch-first Transposes);
    * the Squeeze of a recurrent layer's output sequence ``Y [1, 1, 1, H]``: for one step its consumers
      can read the layer's last state ``Y_h [1, 1, H]`` (the same numbers), and ``Y`` is not computed;
    * a recurrent state ``s [L, B, H]`` that the graph only slices per layer (``Slice(s, l, l + 1,
      axis 0)`` for l = 0..L-1), with an output ``s_out`` that is only ``Concat(axis 0)`` of L per-layer
      tensors, becomes L inputs ``s/l`` and L outputs ``s_out/l`` of shape ``[1, 1, H]``; the caller binds
      them to the rows of its ``[L, 1, H]`` buffers.

    State pairs are the graph's inputs other than ``x`` and outputs other than ``y``, in order. A graph
    that does not match a pattern keeps that part unchanged; the result computes the same values.
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
        return model
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
    state_in = [v for v in g.input if v.name != "x"]
    state_out = [v for v in g.output if v.name != "y"]
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
    return m


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


def fast_runner(sess: ort.InferenceSession, bindings: list) -> tuple[Any, list]:
    """``(run, bindings)`` such that ``run(bindings[k])`` runs binding k.

    The public ``InferenceSession.run_with_iobinding`` checks for WebGPU graph capture on every call
    (about 1-2 µs here, several percent of a step); the C-level ``_sess.run_with_iobinding`` does the
    run alone. Used when this onnxruntime has it, else the public method.
    """
    c_sess = getattr(sess, "_sess", None)
    if c_sess is not None and hasattr(c_sess, "run_with_iobinding") and all(hasattr(b, "_iobinding") for b in bindings):
        c_run = c_sess.run_with_iobinding
        return (lambda b: c_run(b, None)), [b._iobinding for b in bindings]
    return sess.run_with_iobinding, bindings


class FusedPipeline:
    """Preprocessing + decoding of one stream, one onnxruntime call per sample.

    Equivalent to ``Decoder.run(Preprocessor.process(x), state)`` with one state that covers both the
    filter and the recurrent network: :meth:`run` takes the fused single-sample graph for T = 1 and
    the unfused chunk path for T > 1, on the same state.

    Parameters
    ----------
    onnx_path
        The exported model (as for :class:`Decoder`).
    card
        Its model card: ``n_chans``, ``sfreq`` and ``preprocessing`` define the preprocessing.
    decoder
        A :class:`Decoder` of the same model to reuse for the chunk path (e.g. the one a worker already
        loaded); by default one is created.
    filter_dtype
        Precision of the filter inside the fused graph: ``"float64"`` (default; equals the float64
        :class:`Preprocessor` to float32 rounding) or ``"float32"`` (for comparison only: with an
        amplifier's DC offset its error grows with the offset, see the module docstring).
    simplify
        Simplify the model's graph for single samples (:func:`simplify_for_single_sample`); False keeps
        it as exported (for comparison).

    Attributes
    ----------
    card, decoder, preprocessor
        The card, the chunk-path :class:`Decoder` and :class:`Preprocessor`. The filter state lives in
        this object (:attr:`filter_state`) and is handed to the preprocessor for chunks.
    state
        The recurrent :class:`DecoderState` (``h0``, ``c0``); ``state.norms()`` for inspection.
    session
        The onnxruntime session of the fused graph (built in memory, never written to disk).
    state_names
        Keys of a full :meth:`snapshot`: the recurrent state names (``h0``, ``c0``), then ``zf`` if
        the preprocessing has a filter.
    n_filter_states
        ``S = 2 * n_sections`` (0 without a filter).

    Notes
    -----
    The filter state starts uninitialised: the first sample ``x0`` sets it to the steady state for a
    constant input (``sosfilt_zi * x0``), exactly as :class:`Preprocessor` does. One object serves
    one stream and is not thread-safe.
    """

    def __init__(self, onnx_path: Path, card: ModelCard, *, decoder: Decoder | None = None,
                 filter_dtype: str = "float64", simplify: bool = True) -> None:
        if filter_dtype not in FILTER_DTYPES:
            raise ValueError(f"filter_dtype must be one of {FILTER_DTYPES}, got {filter_dtype!r}")
        if decoder is not None and decoder.card.sha256 != card.sha256:
            raise ValueError(f"decoder must run the same model (sha256 {card.sha256[:12]}), "
                             f"got one of sha256 {decoder.card.sha256[:12]}")
        self.card = card
        self.decoder = decoder if decoder is not None else Decoder(onnx_path, card)
        self.preprocessor = Preprocessor(card.preprocessing, card.n_chans, card.sfreq)
        self.filter_dtype = filter_dtype
        self.state: DecoderState = self.decoder.new_state()
        import onnx

        try:
            model = onnx.load(str(onnx_path))
        except Exception as exc:  # onnx raises several types for a corrupt file
            raise ModelError(f"onnx cannot load {onnx_path}: {exc}") from None
        fused = build_fused_model(model, self.preprocessor, filter_dtype, simplify=simplify)
        self.session = make_session(fused.SerializeToString())

        sos = self.preprocessor.sos
        self._has_filter = sos is not None
        self.n_filter_states = 2 * len(sos) if sos is not None else 0
        self.state_names = [*self.state.names, *([FILTER_STATE] if self._has_filter else [])]
        # With a filter, two ping-pong buffers xz [1 + S, C] (row 0: the sample, rows 1..: the state),
        # indexed like the recurrent state by state._cur; without one, a single float32 sample buffer.
        n_rows = 1 + self.n_filter_states
        self._xz = tuple(np.zeros((n_rows, card.n_chans), filter_dtype if self._has_filter else np.float32)
                         for _ in range(2 if self._has_filter else 1))
        self._zi_unit = sps.sosfilt_zi(sos).reshape(-1, 1) if sos is not None else None  # [S, 1]
        self._filter_ready = not self._has_filter
        self._one_sample = (1, card.n_chans)
        self._bind()

    # -- state ---------------------------------------------------------------------------------------

    def _zf(self, k: int) -> np.ndarray:
        """Filter state buffer ``k`` (a view ``[S, C]``)."""
        return self._xz[k][1:]

    @property
    def filter_state(self) -> np.ndarray | None:
        """A copy of the filter state ``zf [S, C]`` (float64); None before the first sample or without a filter.

        ``zf.reshape(n_sections, 2, C)`` is scipy's ``zi``, i.e. :attr:`Preprocessor.filter_state`.
        """
        if not self._has_filter or not self._filter_ready:
            return None
        return self._zf(self.state._cur).astype(np.float64)

    def reset(self) -> None:
        """Back to the initial state: zero recurrent state, filter re-initialised by the next sample."""
        self.state.reset()
        self._filter_ready = not self._has_filter

    def reset_recurrent(self) -> None:
        """Zero the recurrent state only; the filter keeps its state (what the worker's ``reset`` does now)."""
        self.state.reset()

    def snapshot(self) -> dict[str, np.ndarray]:
        """A copy of the whole state: ``h0`` (+ ``c0``) ``[L, 1, H]`` float32 and ``zf [S, C]`` float64.

        ``zf`` is present only once the filter is initialised (after the first sample); restoring a
        snapshot without it leaves the filter to be initialised by the next sample.
        """
        snap = self.state.snapshot()
        zf = self.filter_state
        if zf is not None:
            snap[FILTER_STATE] = zf
        return snap

    def restore(self, snapshot: dict[str, np.ndarray]) -> None:
        """Set the state from a :meth:`snapshot`; names and shapes must match, values be finite.

        Nothing changes if the snapshot is refused.
        """
        rnn = dict(snapshot)
        zf = rnn.pop(FILTER_STATE, None) if self._has_filter else None
        if zf is not None:
            zf = np.asarray(zf, dtype=np.float64)
            shape = (self.n_filter_states, self.card.n_chans)
            if zf.shape != shape:
                raise ValueError(f"state array {FILTER_STATE!r} must have shape {shape}, got {zf.shape}")
            if not np.isfinite(zf).all():
                raise ValueError(f"state array {FILTER_STATE!r} must be finite, got NaN or inf")
        self.state.restore(rnn)  # checks the recurrent names, shapes and values before setting them
        if self._has_filter:
            if zf is not None:
                np.copyto(self._zf(self.state._cur), zf, casting="unsafe")
            self._filter_ready = zf is not None

    # -- processing ----------------------------------------------------------------------------------

    def run(self, x: np.ndarray) -> np.ndarray:
        """Preprocess and decode raw ``x[T, C]``; return float32 ``y[T, K]`` and advance the state.

        T = 1 is one onnxruntime call (fused graph, prebuilt IOBindings, no allocation but the
        returned row); T > 1 is ``Preprocessor.process`` + ``Decoder.run`` on the same state; T = 0
        returns an empty ``[0, K]``.
        """
        if x.shape == self._one_sample and self._filter_ready:  # the hot path
            cur = self.state._cur
            self._x_rows[cur][...] = x
            self._run_binding(self._bindings[cur])
            self.state._cur = cur ^ 1
            return self._y_row.copy()
        return self._run_other(x)

    def _run_other(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 2 or x.shape[1] != self.card.n_chans:
            raise ValueError(f"x must have shape (T, n_chans={self.card.n_chans}), got {x.shape}")
        if len(x) == 0:
            return np.empty((0, self.card.n_outputs), dtype=np.float32)
        cur = self.state._cur
        if len(x) == 1:  # the first sample: initialise the filter as Preprocessor does, then the fused step
            np.multiply(self._zi_unit, x.astype(np.float64), out=self._zf(cur), casting="unsafe")
            self._filter_ready = True
            return self.run(x)
        pre = self.preprocessor
        if self._has_filter:
            zf = self._zf(cur)
            pre.filter_state = zf.reshape(-1, 2, self.card.n_chans) if self._filter_ready else None
        z = pre.process(x)
        if self._has_filter:
            np.copyto(zf, pre.filter_state.reshape(zf.shape), casting="unsafe")
            self._filter_ready = True
        return self.decoder.run(z, self.state)

    def _bind(self) -> None:
        """Two IOBindings: binding k reads state buffers k (recurrent and filter) and writes buffers 1 - k."""
        card, sess = self.card, self.session
        y_buf = np.zeros((1, 1, card.n_outputs), dtype=np.float32)
        keep: list[ort.OrtValue] = [ort.OrtValue.ortvalue_from_numpy(y_buf)]
        bindings = []
        graph_inputs = {i.name for i in sess.get_inputs()}
        for k in (0, 1):
            b = sess.io_binding()
            b.bind_ortvalue_output("y", keep[0])
            for n_in, n_out in zip(self.decoder.state_inputs, self.decoder.state_outputs):
                bufs = self.state._bufs[n_in]
                if n_in in graph_inputs:
                    pieces = [(n_in, n_out, bufs[k], bufs[1 - k])]
                else:  # per-layer state I/O: row l of the [L, 1, H] buffers (contiguous views)
                    pieces = [(f"{n_in}/{l}", f"{n_out}/{l}", bufs[k][l : l + 1], bufs[1 - k][l : l + 1])
                              for l in range(len(bufs[k]))]
                for name_in, name_out, src, dst in pieces:
                    keep += [ort.OrtValue.ortvalue_from_numpy(src), ort.OrtValue.ortvalue_from_numpy(dst)]
                    b.bind_ortvalue_input(name_in, keep[-2])
                    b.bind_ortvalue_output(name_out, keep[-1])
            if self._has_filter:
                keep += [ort.OrtValue.ortvalue_from_numpy(self._xz[k]),
                         ort.OrtValue.ortvalue_from_numpy(self._zf(1 - k))]  # rows 1.. of the other buffer
                b.bind_ortvalue_input(SAMPLE_AND_STATE, keep[-2])
                b.bind_ortvalue_output(FILTER_STATE_OUT, keep[-1])
            else:
                keep.append(ort.OrtValue.ortvalue_from_numpy(self._xz[0]))
                b.bind_ortvalue_input("x", keep[-1])
            bindings.append(b)
        self._bindings = bindings
        self._x_rows = (self._xz[0][:1], self._xz[-1][:1])  # where each binding reads the sample
        self._y_row = y_buf[0]
        self._ort_values = keep  # the OrtValues (and through them the buffers) live as long as the bindings
        self._run_binding, self._bindings = fast_runner(sess, bindings)
