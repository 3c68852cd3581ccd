"""A stateful streaming decoder over one onnxruntime session.

The :class:`Decoder` holds the session (stateless, shareable between streams); each stream has its own
:class:`DecoderState`. ``decoder.run(x[T, C], state)`` runs the recurrent graph over the T samples,
updating the state sample by sample inside the graph, so a backlog of T samples gives exactly the
result of T single steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from bci_stream.errors import ModelError
from bci_stream.inference.card import ModelCard


def make_session(onnx_path: Path | bytes) -> ort.InferenceSession:
    """An onnxruntime CPU session tuned for latency: 1 intra-op and 1 inter-op thread, sequential.

    ``onnx_path`` may also be a serialised model (``bytes``), e.g. a graph built in memory.
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    in_memory = isinstance(onnx_path, bytes)
    try:
        return ort.InferenceSession(
            onnx_path if in_memory else str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises several types for a corrupt file
        what = "an in-memory model" if in_memory else onnx_path
        raise ModelError(f"onnxruntime cannot load {what}: {exc}") from None


class DecoderState:
    """Recurrent state of one stream: ``h [L, 1, H]`` and, for an LSTM, ``c [L, 1, H]``.

    Each array lives in two preallocated buffers that single steps alternate between (ping-pong):
    step k reads buffer ``k % 2`` and writes the other, so onnxruntime's bound inputs and outputs
    never move and no memory is allocated per sample. :attr:`arrays` is always the current state.
    """

    def __init__(self, names: list[str], n_layers: int, hidden_size: int) -> None:
        self.names = list(names)
        self.shape = (n_layers, 1, hidden_size)
        self._bufs = {n: (np.zeros(self.shape, np.float32), np.zeros(self.shape, np.float32)) for n in self.names}
        self._cur = 0
        self._bindings: tuple | None = None  # (decoder, bindings, x_buf, y_buf), built by Decoder

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The current state arrays, by ONNX input name (``h0``, ``c0``)."""
        return {n: bufs[self._cur] for n, bufs in self._bufs.items()}

    def _set(self, values: dict[str, np.ndarray]) -> None:
        for n, v in values.items():
            np.copyto(self._bufs[n][self._cur], v)

    def reset(self) -> None:
        """Back to the zero state."""
        for bufs in self._bufs.values():
            bufs[0].fill(0.0)
            bufs[1].fill(0.0)

    def snapshot(self) -> dict[str, np.ndarray]:
        """A copy of the state arrays (``h0``, and ``c0`` for an LSTM)."""
        return {n: a.copy() for n, a in self.arrays.items()}

    def restore(self, snapshot: dict[str, np.ndarray]) -> None:
        """Set the state from a :meth:`snapshot`; names and shapes must match, values be finite."""
        if set(snapshot) != set(self.names):
            raise ValueError(f"state snapshot must have arrays {self.names}, got {sorted(snapshot)}")
        checked = {}
        for n, a in snapshot.items():
            a = np.asarray(a, dtype=np.float32)
            if a.shape != self.shape:
                raise ValueError(f"state array {n!r} must have shape {self.shape}, got {a.shape}")
            if not np.isfinite(a).all():
                raise ValueError(f"state array {n!r} must be finite, got NaN or inf")
            checked[n] = a
        self._set(checked)

    def norms(self) -> dict[str, list[float]]:
        """Per-layer L2 norm of each state array: a cheap look at what the network carries."""
        return {n: np.linalg.norm(a[:, 0, :], axis=1).tolist() for n, a in self.arrays.items()}


class Decoder:
    """One ONNX model with named recurrent state I/O, checked against its card.

    Parameters
    ----------
    onnx_path
        Path of the ONNX file (inputs ``x [B, T, C]``, ``h0 [L, B, H]`` (+ ``c0``); outputs
        ``y [B, T, K]``, ``hn`` (+ ``cn``)).
    card
        The model card; the graph's input/output shapes must agree with it.
    """

    def __init__(self, onnx_path: Path, card: ModelCard) -> None:
        self.card = card
        self.session = make_session(onnx_path)
        arch = card.architecture
        self.state_inputs = card.inputs[1:]
        self.state_outputs = card.outputs[1:]
        self._check_graph(onnx_path)
        self._output_names = ["y", *self.state_outputs]
        self.n_layers, self.hidden_size = arch.n_layers, arch.hidden_size

    def _check_graph(self, onnx_path: Path) -> None:
        card = self.card
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        expected_in = {"x": card.n_chans, **{n: card.architecture.hidden_size for n in self.state_inputs}}
        expected_out = {"y": card.n_outputs, **{n: card.architecture.hidden_size for n in self.state_outputs}}
        for kind, have, want in (("input", inputs, expected_in), ("output", outputs, expected_out)):
            if set(have) != set(want):
                raise ModelError(
                    f"model '{card.ref}': ONNX {kind}s of {onnx_path} are {sorted(have)}, the card says {sorted(want)}"
                )
            for name, last_dim in want.items():
                dim = have[name][-1]
                if isinstance(dim, int) and dim != last_dim:
                    raise ModelError(
                        f"model '{card.ref}': ONNX {kind} {name!r} has last dimension {dim}, "
                        f"the card says {last_dim}"
                    )

    def new_state(self) -> DecoderState:
        """A zero state for a new stream."""
        return DecoderState(self.state_inputs, self.n_layers, self.hidden_size)

    def run(self, x: np.ndarray, state: DecoderState) -> np.ndarray:
        """Decode ``x[T, C]`` (float32) from ``state``; return ``y[T, K]`` and advance ``state``.

        T = 1 goes through prebuilt IOBindings over preallocated buffers (the per-sample hot path);
        T > 1 runs the graph once over the whole chunk. Both give exactly the result of T single steps.
        """
        if len(x) == 1:
            return self._step(x, state)
        if len(x) == 0:
            return np.empty((0, self.card.n_outputs), dtype=np.float32)
        feed = {"x": np.ascontiguousarray(x, dtype=np.float32)[None], **state.arrays}
        y, *new_state = self.session.run(self._output_names, feed)
        state._set(dict(zip(self.state_inputs, new_state)))
        return y[0]

    def _step(self, x: np.ndarray, state: DecoderState) -> np.ndarray:
        if state._bindings is None or state._bindings[0] is not self:
            state._bindings = self._bind(state)
        _, bindings, x_buf, y_buf = state._bindings
        x_buf[:] = x
        self.session.run_with_iobinding(bindings[state._cur])
        state._cur ^= 1
        return y_buf.copy()

    def _bind(self, state: DecoderState) -> tuple:
        """Two IOBindings over the state's ping-pong buffers: binding k reads buffer k, writes 1 - k."""
        x_buf = np.zeros((1, 1, self.card.n_chans), dtype=np.float32)
        y_buf = np.zeros((1, 1, self.card.n_outputs), dtype=np.float32)
        x_val, y_val = ort.OrtValue.ortvalue_from_numpy(x_buf), ort.OrtValue.ortvalue_from_numpy(y_buf)
        vals = {n: [ort.OrtValue.ortvalue_from_numpy(b) for b in state._bufs[n]] for n in state.names}
        bindings = []
        for k in (0, 1):
            b = self.session.io_binding()
            b.bind_ortvalue_input("x", x_val)
            b.bind_ortvalue_output("y", y_val)
            for n_in, n_out in zip(self.state_inputs, self.state_outputs):
                b.bind_ortvalue_input(n_in, vals[n_in][k])
                b.bind_ortvalue_output(n_out, vals[n_in][1 - k])
            bindings.append(b)
        return (self, bindings, x_buf[0], y_buf[0])
