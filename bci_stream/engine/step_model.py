"""One step graph in one onnxruntime session, shared by every stream that runs the model.

:class:`StepModel` is stateless: each stream passes its own
:class:`~bci_stream.engine.stream_state.StreamState`. ``run(x[T, C], state)`` decodes one stream;
``step(x[B, T, C], states)`` decodes B streams in one call (their states stacked on each state's batch
axis). The graph advances the state sample by sample inside, so any T gives the result of T single steps.

Two sessions: a general one (B and T free) for backlogs and batches, and one for a single sample of a
single stream: the single-sample graph written beside the step graph at export when there is one
(``card.step.single_step``: no data-movement nodes, per-layer recurrent state bound to the rows of the
state buffers), else the step graph itself; both with B = T = 1 fixed through onnxruntime's
free-dimension overrides, so its optimiser folds the block arithmetic of the filters into constants.
With IOBindings over the state's ping-pong buffers a single sample is one call that allocates nothing
but the returned row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnxruntime as ort

from bci_stream.core.contract import SAMPLE_AND_FILTER, SCALE, X, Y, StepSpec
from bci_stream.engine.output_check import PROBABILITY_TOLERANCE, SOFTMAX_ADVICE, not_probabilities
from bci_stream.engine.stream_state import StreamState
from bci_stream.core.errors import ModelError
from bci_stream.core.onnx_meta import OnnxFormatError, external_data
from bci_stream.core.registry import external_problem, runnable_problem
from bci_stream.core.step_axes import axes_problem
from bci_stream.core.card import ModelCard, metadata_problem
from bci_stream.core.load_errors import load_error, transient_cause

_ORT_TYPES = {"float32": "tensor(float)", "float64": "tensor(double)"}


def make_session(onnx_path: Path | bytes, fixed_dims: dict[str, int] | None = None) -> ort.InferenceSession:
    """An onnxruntime CPU session tuned for latency: 1 intra-op and 1 inter-op thread, sequential.

    ``fixed_dims`` fixes named free dimensions (e.g. ``{"B": 1, "T": 1}``) so the optimiser can fold
    shape arithmetic. ``onnx_path`` may be a serialised model (``bytes``). ModelError when onnxruntime cannot load
    it; ModelUnavailableError when it failed for a reason a retry can cure (out of memory or file descriptors:
    :mod:`~bci_stream.core.load_errors`).
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    for dim, value in (fixed_dims or {}).items():
        opts.add_free_dimension_override_by_name(dim, value)
    in_memory = isinstance(onnx_path, bytes)
    try:
        return ort.InferenceSession(onnx_path if in_memory else str(onnx_path), sess_options=opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several types for a corrupt file (and Fail when short of memory)
        what = "an in-memory model" if in_memory else onnx_path
        if transient_cause(exc) is None:
            raise ModelError(f"onnxruntime cannot load {what}: {exc}") from None
        raise load_error(exc, f"{what} into onnxruntime") from None  # ModelUnavailableError: a retry may succeed


def _fast_runner(sess: ort.InferenceSession, bindings: list) -> tuple[Any, list]:
    """``(run, bindings)`` such that ``run(bindings[k])`` runs binding k.

    The public ``run_with_iobinding`` checks for graph capture on every call (1-2 µs, several percent
    of a step); the C-level method of the same session does the run alone. Used when present.
    """
    c_sess = getattr(sess, "_sess", None)
    if c_sess is not None and hasattr(c_sess, "run_with_iobinding") and all(hasattr(b, "_iobinding") for b in bindings):
        c_run = c_sess.run_with_iobinding
        return (lambda b: c_run(b, None)), [b._iobinding for b in bindings]
    return sess.run_with_iobinding, bindings


class _Bound(NamedTuple):
    """A stream's single-sample path through one model: two IOBindings over its state buffers."""

    model: StepModel
    run: Any  # run(bindings[k]) runs binding k
    bindings: list
    x: tuple  # where binding k reads the sample: a row [1, C] (the same for both, or row 0 of buffer k)
    scale: np.ndarray | None  # [1, C] when the runtime writes sample x scale into a packed buffer
    y: np.ndarray  # the bound output row [1, K]
    keep: tuple  # the OrtValues (and through them the buffers) and bindings, alive as long as this


def _external(onnx_path: Path) -> list[str]:
    """The files ``onnx_path`` keeps tensors in (:func:`~bci_stream.core.onnx_meta.external_data`); [] when it cannot
    be read as ONNX (onnxruntime then says why, naming the file) or not at all (its OSError comes with the load)."""
    try:
        return external_data(onnx_path)
    except (OnnxFormatError, OSError):
        return []


class StepModel:
    """A step graph checked against its card (see the module docstring).

    Parameters
    ----------
    onnx_path
        The model's ONNX file (a step graph, card ``format_version`` 2).
    card
        Its model card.

    Raises
    ------
    ModelError
        When the card has no step graph (format 1), onnxruntime cannot load the file, or the graph's
        inputs/outputs differ from the card's description, or the card disagrees with the graph's export
        metadata (channels, rate, output kind and labels, step I/O: :func:`~bci_stream.core.card.metadata_problem`).
    ModelUnavailableError
        When onnxruntime failed for a reason of the server that a retry can cure (out of memory, out of file
        descriptors: :func:`~bci_stream.core.load_errors.transient_cause`).
    """

    def __init__(self, onnx_path: Path | str, card: ModelCard) -> None:
        if (why := runnable_problem(card, Path(onnx_path).parent)) is not None:  # format 1, or no voltage unit
            raise ModelError(why)
        if (why := external_problem(card.ref, _external(Path(onnx_path)))) is not None:  # weights no sha256 covers
            raise ModelError(why)
        self.card = card
        self.key = card.key()  # file and card: a shared worker's session and state table (slot_pool)
        self.spec: StepSpec = card.step
        self.session = make_session(Path(onnx_path))
        self._check_graph(Path(onnx_path))
        single = self.spec.single_step
        one_path = Path(onnx_path) if single is None else Path(onnx_path).parent / single.file
        self._split = {} if single is None else dict(single.split)
        self._one = make_session(one_path, {"B": 1, "T": 1})
        self._state_in = [s.input for s in self.spec.states]
        self._out_names = self.spec.output_names
        self._one_shape = (1, self.spec.n_chans)

    def _check_graph(self, onnx_path: Path) -> None:
        spec, ref = self.spec, self.card.ref
        have_in = {i.name: i for i in self.session.get_inputs()}
        have_out = {o.name: o for o in self.session.get_outputs()}
        for kind, have, want in (("input", have_in, spec.input_names), ("output", have_out, spec.output_names)):
            if set(have) != set(want):
                raise ModelError(f"model '{ref}': ONNX {kind}s of {onnx_path} are {sorted(have)}, "
                                 f"the card says {sorted(want)}")
        expect = {X: ("float32", spec.n_chans), SCALE: ("float64", spec.n_chans), Y: ("float32", spec.n_outputs)}
        for s in spec.states:
            expect[s.input] = expect[s.output] = (s.dtype, s.shape[-1])
        for name, (dtype, last) in expect.items():
            arg = have_in.get(name) or have_out[name]
            if arg.type != _ORT_TYPES[dtype]:
                raise ModelError(f"model '{ref}': ONNX {name!r} is {arg.type}, the card says {_ORT_TYPES[dtype]}")
            dim = arg.shape[-1] if arg.shape else None
            if isinstance(dim, int) and dim != last:
                raise ModelError(f"model '{ref}': ONNX {name!r} has last dimension {dim}, the card says {last}")
        shapes = {arg.name: arg.shape for arg in (*have_in.values(), *have_out.values())}
        if (why := axes_problem(self.card, shapes, onnx_path)) is not None:
            raise ModelError(f"model '{ref}': {why}")
        if (why := metadata_problem(self.card, self.session.get_modelmeta().custom_metadata_map, onnx_path)):
            raise ModelError(why)

    @property
    def n_chans(self) -> int:
        return self.spec.n_chans

    @property
    def n_outputs(self) -> int:
        return self.spec.n_outputs

    def new_state(self) -> StreamState:
        """The initial state of a new stream."""
        return StreamState(self.spec)

    def warm_up(self) -> None:
        """Run both sessions once (first calls allocate), on zeros; a ``categorical`` model whose outputs are no
        class probabilities there (logits: a model upgraded before ``upgrade-model`` checked that, or never
        upgraded) is refused (ModelError), as export and ``upgrade-model`` refuse it."""
        state = self.new_state()
        try:
            y = [self.run(np.zeros((t, self.n_chans), dtype=np.float32), state) for t in (1, 1, 3)]
        except Exception as exc:  # a graph whose shapes or ops onnxruntime refuses when run: the model's fault
            if transient_cause(exc) is not None:  # out of memory or file descriptors: a retry may succeed
                raise load_error(exc, f"model '{self.card.ref}' (its warm-up)") from None
            raise ModelError(f"model '{self.card.ref}': onnxruntime cannot run its step graph on a warm-up (zeros in, "
                             f"chunks of 1 and 3 samples): {exc}") from None
        if self.card.output.kind == "categorical" and (what := not_probabilities(np.concatenate(y))) is not None:
            raise ModelError(
                f"model '{self.card.ref}': output.kind is 'categorical', so its output 'y' must be class probabilities "
                f"(each value in [0, 1], each row summing to 1 within {PROBABILITY_TOLERANCE:g}), but on its warm-up "
                f"(zeros in) {what}: the network ends in logits or scores, which would be published labelled "
                f"'probability'; {SOFTMAX_ADVICE}, and export it again")

    # -- one stream ------------------------------------------------------------------------------------

    def run(self, x: np.ndarray, state: StreamState) -> np.ndarray:
        """Decode raw ``x[T, C]`` of one stream; return float32 ``y[T, K]`` and advance ``state``.

        T = 1 is one call of the single-sample session through prebuilt IOBindings; longer chunks run the
        general session in blocks of at most ``max_block`` samples; T = 0 returns ``[0, K]``.
        """
        if x.shape == self._one_shape and not state._pending:  # the per-sample hot path
            bound = state._bindings
            if bound is None or bound.model is not self:
                bound = state._bindings = self._bind(state)
            cur = state._cur
            if bound.scale is None or state._unit_scale:  # the graph scales it, or nothing to scale
                bound.x[cur][...] = x
            else:  # the single-sample graph reads the sample in the card's unit
                np.multiply(x, bound.scale, out=bound.x[cur], casting="unsafe")
            bound.run(bound.bindings[cur])
            state._cur = cur ^ 1
            return bound.y.copy()
        if x.ndim != 2 or x.shape[1] != self.spec.n_chans:
            raise ValueError(f"x must have shape (T, n_chans={self.spec.n_chans}), got {x.shape}")
        if len(x) == 0:
            return np.empty((0, self.spec.n_outputs), dtype=np.float32)
        if state._pending:
            state.init_first(x[0])
        if len(x) == 1:
            return self.run(x, state)
        block = self.spec.max_block
        if len(x) <= block:
            return self._run_block(x, state)
        return np.concatenate([self._run_block(x[i:i + block], state) for i in range(0, len(x), block)])

    def _run_block(self, x: np.ndarray, state: StreamState) -> np.ndarray:
        feed = {X: np.ascontiguousarray(x, dtype=np.float32)[None], SCALE: state.scale}
        arrays = state.arrays
        feed.update({s.input: arrays[s.name] for s in self.spec.states})
        y, *new = self.session.run(self._out_names, feed)
        state.set_arrays({s.name: v for s, v in zip(self.spec.states, new)})
        return y[0]

    def _bind(self, state: StreamState) -> _Bound:
        """Two IOBindings over the state's buffers: binding k reads buffer k and writes buffer 1 - k."""
        single = self.spec.single_step
        packed = single.sample_and_filter if single is not None else None
        y_buf = np.zeros((1, 1, self.spec.n_outputs), dtype=np.float32)
        keep = [ort.OrtValue.ortvalue_from_numpy(y_buf)]
        if packed is None:
            x_buf = np.zeros((1, 1, self.spec.n_chans), dtype=np.float32)
            keep += [ort.OrtValue.ortvalue_from_numpy(x_buf), ort.OrtValue.ortvalue_from_numpy(state.scale)]
            x_rows = (x_buf[0], x_buf[0])
        else:  # the sample goes, scaled, into row 0 of the buffer that holds the filter state
            lead = state._packed[packed]
            x_rows = (lead[0][:1], lead[1][:1])
        bindings = []
        for k in (0, 1):
            b = self._one.io_binding()
            b.bind_ortvalue_output(Y, keep[0])
            if packed is None:
                b.bind_ortvalue_input(X, keep[1])
                b.bind_ortvalue_input(SCALE, keep[2])
            for s in self.spec.states:
                bufs = state._bufs[s.name]
                n_rows = self._split.get(s.input)
                if s.name == packed:
                    pieces = [(SAMPLE_AND_FILTER, s.output, state._packed[s.name][k], state._packed[s.name][1 - k][1:])]
                elif n_rows is None:
                    pieces = [(s.input, s.output, bufs[k], bufs[1 - k])]
                else:  # per-layer I/O of the single-sample graph: row l of the [L, 1, H] buffers
                    pieces = [(f"{s.input}/{l}", f"{s.output}/{l}", bufs[k][l:l + 1], bufs[1 - k][l:l + 1])
                              for l in range(n_rows)]
                for name_in, name_out, src_buf, dst_buf in pieces:
                    src, dst = ort.OrtValue.ortvalue_from_numpy(src_buf), ort.OrtValue.ortvalue_from_numpy(dst_buf)
                    keep += [src, dst]
                    b.bind_ortvalue_input(name_in, src)
                    b.bind_ortvalue_output(name_out, dst)
            bindings.append(b)
        run, runnable = _fast_runner(self._one, bindings)
        scale = state.scale[0] if packed is not None else None
        return _Bound(self, run, runnable, x_rows, scale, y_buf[0], (keep, bindings))

    # -- many streams ----------------------------------------------------------------------------------

    def step(self, x: np.ndarray, states: list[StreamState]) -> np.ndarray:
        """Decode B streams at once: ``x[B, T, C]`` (T <= ``max_block``), one state each; ``y[B, T, K]``.

        Row b of ``y`` and of every new state depends only on ``x[b]`` and ``states[b]``.
        """
        if x.ndim != 3 or x.shape[0] != len(states) or x.shape[2] != self.spec.n_chans:
            raise ValueError(f"x must have shape (B={len(states)}, T, n_chans={self.spec.n_chans}), got {x.shape}")
        if not 1 <= x.shape[1] <= self.spec.max_block:
            raise ValueError(f"x must have 1 <= T <= max_block={self.spec.max_block} samples, got {x.shape[1]}")
        for b, st in enumerate(states):
            if st._pending:
                st.init_first(x[b, 0])
        feed = {X: np.ascontiguousarray(x, dtype=np.float32),
                SCALE: np.concatenate([st.scale for st in states], axis=0)}
        for s in self.spec.states:
            feed[s.input] = np.concatenate([st.arrays[s.name] for st in states], axis=s.batch_axis)
        y, *new = self.session.run(self._out_names, feed)
        for s, value in zip(self.spec.states, new):
            for b, st in enumerate(states):
                st.set_arrays({s.name: np.take(value, [b], axis=s.batch_axis)})
        return y
