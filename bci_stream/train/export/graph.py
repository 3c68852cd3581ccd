"""Building blocks of step graphs (offline; needs the ``train`` extra for ``onnx``).

:class:`GraphBuilder` collects nodes and constants with unique names; the ``add_*`` functions append the
pieces every decoder family shares: unit scaling, a causal linear filter with carried state, an affine
map. Every piece takes ``[B, T, M]`` tensors, so one graph serves any number of streams (B) and any
block length up to ``max_block`` (T) with exactly the result of T single steps.

A linear filter over a block is done with matrices, not a loop: for a state-space filter
``z' = A z + B u``, ``y = C z + D u`` (the same filter on each of M channels, state ``z [S, M]``),

    y[t]  = C A^t z0 + sum_{k <= t} h[t - k] u[k],   h[0] = D,  h[j] = C A^(j - 1) B
    z[T]  = A^T z0 + sum_{k < T} A^(T - 1 - k) B u[k]

so a block of T samples is four MatMuls with slices of matrices precomputed for ``max_block``. With T
fixed to 1 (onnxruntime's free-dimension override) the slices fold into constants at load time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17

_DTYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE,
           np.dtype(np.int64): TensorProto.INT64}


class GraphBuilder:
    """Nodes, constants, inputs and outputs of one graph, with unique names under a prefix."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._count = 0
        self._consts: dict[tuple[str, tuple[int, ...], bytes], str] = {}

    def fresh(self, hint: str) -> str:
        """A new tensor name."""
        self._count += 1
        return f"{hint}#{self._count}"

    def const(self, value: np.ndarray | float | int | Sequence, hint: str, dtype: np.dtype | type | None = None) -> str:
        """A constant tensor; an identical one (dtype, shape and values) already in the graph is reused, so graphs
        that repeat a block (several decoders with the same time constant) store its matrices once."""
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            self._consts[key] = self.fresh(hint)
            self.initializers.append(numpy_helper.from_array(arr, self._consts[key]))
        return self._consts[key]

    def op(self, op_type: str, inputs: Sequence[str], hint: str | None = None, *, n_out: int = 1,
           outputs: Sequence[str] | None = None, **attrs) -> str | list[str]:
        """Append a node; returns its output name (or names when ``n_out > 1``)."""
        outs = list(outputs) if outputs is not None else [self.fresh(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, **attrs))
        return outs[0] if len(outs) == 1 else outs

    def add_input(self, name: str, dtype: type, shape: Sequence[int | str]) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, _DTYPES[np.dtype(dtype)], list(shape)))
        return name

    def add_output(self, name: str, dtype: type, shape: Sequence[int | str]) -> str:
        self.outputs.append(helper.make_tensor_value_info(name, _DTYPES[np.dtype(dtype)], list(shape)))
        return name

    def identity(self, src: str, dst: str) -> str:
        """Name ``src`` as ``dst`` (a graph output must be a node's output)."""
        return self.op("Identity", [src], outputs=[dst])

    def model(self, name: str, doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, self.inputs, self.outputs, initializer=self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="bci-stream")
        model.ir_version = min(model.ir_version, 9)  # readable by every onnxruntime >= 1.16
        model.doc_string = doc
        onnx.checker.check_model(model)
        return model


def block_matrices(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: float, max_block: int
                   ) -> dict[str, np.ndarray]:
    """Matrices of :func:`add_linear_filter` for a state-space filter (float64).

    Returns ``obs [Tmax, S]`` (rows ``C A^t``), ``conv [Tmax, Tmax]`` (lower-triangular Toeplitz of the
    impulse response), ``apow [Tmax + 1, S, S]`` (``A^t``) and ``ctrl [S, Tmax]`` (column ``Tmax - 1 - j``
    is ``A^j B``).
    """
    a, b, c = (np.asarray(m, dtype=np.float64) for m in (a, b, c))
    s = a.shape[0]
    apow = np.empty((max_block + 1, s, s))
    apow[0] = np.eye(s)
    for t in range(1, max_block + 1):
        apow[t] = apow[t - 1] @ a
    obs = np.stack([(c @ apow[t])[0] for t in range(max_block)])
    impulse = np.empty(max_block)
    impulse[0] = d
    for j in range(1, max_block):
        impulse[j] = (c @ apow[j - 1] @ b)[0, 0]
    idx = np.arange(max_block)
    lag = idx[:, None] - idx[None, :]
    conv = np.where(lag >= 0, impulse[np.clip(lag, 0, None)], 0.0)
    ctrl = np.stack([(apow[j] @ b)[:, 0] for j in range(max_block)][::-1], axis=1)
    return {"obs": obs, "conv": conv, "apow": apow, "ctrl": ctrl}


class BlockLength:
    """The block length T of a ``[B, T, M]`` tensor as graph tensors, computed once per graph."""

    def __init__(self, g: GraphBuilder, x: str) -> None:
        shape = g.op("Shape", [x], "T/shape")
        self.t1 = g.op("Slice", [shape, g.const([1], "T/one", np.int64), g.const([2], "T/two", np.int64)], "T/t1")
        self.tt = g.op("Concat", [self.t1, self.t1], "T/tt", axis=0)
        self.t0 = g.op("Squeeze", [self.t1, g.const([0], "T/axis0", np.int64)], "T/t0")


def add_linear_filter(g: GraphBuilder, u: str, state_in: str, state_out: str, a: np.ndarray, b: np.ndarray,
                      c: np.ndarray, d: float, max_block: int, length: BlockLength, hint: str) -> str:
    """Filter ``u [B, T, M]`` with state ``state_in [B, S, M]``; writes ``state_out``; returns ``y [B, T, M]``.

    Float64 throughout. The state and the block are stacked, ``zu = [z; u] [B, S + T, M]``, so the block
    is two MatMuls by ``[C A^t | h]`` and ``[A^T | A^(T-1-k) B]`` (slices of precomputed matrices, which
    fold into constants when T is fixed).
    """
    m = block_matrices(a, b, c, d, max_block)
    i64 = np.int64
    zero1, zero2 = g.const([0], f"{hint}/z1", i64), g.const([0, 0], f"{hint}/z2", i64)
    obs = g.op("Slice", [g.const(m["obs"], f"{hint}/obs"), zero1, length.t1, zero1], f"{hint}/obs_t")
    conv = g.op("Slice", [g.const(m["conv"], f"{hint}/conv"), zero2, length.tt,
                          g.const([0, 1], f"{hint}/ax01", i64)], f"{hint}/conv_t")
    apow = g.op("Gather", [g.const(m["apow"], f"{hint}/apow"), length.t0], f"{hint}/apow_t", axis=0)
    start = g.op("Sub", [g.const([max_block], f"{hint}/tmax", i64), length.t1], f"{hint}/start")
    ctrl = g.op("Slice", [g.const(m["ctrl"], f"{hint}/ctrl"), start, g.const([max_block], f"{hint}/tmax2", i64),
                          g.const([1], f"{hint}/ax1", i64)], f"{hint}/ctrl_t")
    out_rows = g.op("Concat", [obs, conv], f"{hint}/out_rows", axis=1)  # [T, S + T]
    next_rows = g.op("Concat", [apow, ctrl], f"{hint}/next_rows", axis=1)  # [S, S + T]
    zu = g.op("Concat", [state_in, u], f"{hint}/zu", axis=1)  # [B, S + T, M]
    g.op("MatMul", [next_rows, zu], outputs=[state_out])
    return g.op("MatMul", [out_rows, zu], f"{hint}/y")
