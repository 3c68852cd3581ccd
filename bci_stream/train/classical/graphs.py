"""Step graphs of the streaming classical decoders: CSP+LDA and tangent space + LR (needs ``onnx``).

Both follow :mod:`bci_stream.core.contract`: the card's preprocessing
(:func:`~bci_stream.train.export.step_graph.add_preprocessing`, float64) in front of the family's core, every
running estimator a float64 state (role ``estimator``, init ``constant``), ``y [B, T, K]`` float32 class
probabilities. The math is :mod:`bci_stream.train.classical.params`; the offline twin is
:mod:`bci_stream.train.classical.reference`.

CSP + LDA: ``s = u @ filters`` (clipped per component, ``Min`` then ``Max``, when the parameters have ``clip_sd``);
the running power is a first-order linear filter of ``s ** 2`` with state ``power [1, 1, m]``
(:func:`~bci_stream.train.export.graph.add_linear_filter`); ``softmax(log p @ coef.T + b)``.

Tangent space + LR: the outer products ``v v^T`` (flattened, ``[B, T, n * n]``, as ``v[..., rows] * v[..., cols]``
of ``v = u @ P``, clipped like ``s``) go through the same filter with state ``cov [1, 1, n * n]`` (the running
covariance ``S`` of params.py, row-major); then shrinkage and whitening ``M = W R W`` (``W = ref_isqrt``;
one ``[n^2, n^2]`` MatMul for n <= 8, else two n x n products and the trace), the matrix logarithm, and the
logistic regression as one ``[n^2, K]`` MatMul on the flattened log (upper triangle, off-diagonal
weight sqrt(2), pyriemann's order, folded into the matrix).

The matrix logarithm (:func:`~.logm_graph.add_logm`) is a Chebyshev polynomial in ``M`` evaluated with
matrix products only, exact to :data:`~.logm_graph.LOGM_TOL` up to a condition number of ``M``
(``logm_max_condition``): see :mod:`bci_stream.train.classical.logm_graph`.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto

from bci_stream.core.contract import Y, StateSpec, StepSpec
from bci_stream.train.classical.logm_graph import LOGM_MAX_CONDITION, LOGM_TOL, add_logm, logm_plan
from bci_stream.train.classical.params import CspLdaParams, RiemannParams
from bci_stream.train.classical.reference import (
    TINY,
    check_csp_lda,
    check_riemann,
    clip_bounds,
    smoothing_factor,
    upper_coefficients,
)
from bci_stream.train.export.graph import BlockLength, GraphBuilder, add_linear_filter
from bci_stream.train.export.step_graph import DEFAULT_MAX_BLOCK, add_preprocessing, state_io

POWER_STATE, COV_STATE = "power", "cov"
#: Up to this n the shrinkage and whitening are one MatMul on the flattened covariance.
WHITEN_FLAT_MAX_N = 8


# -- CSP + LDA --------------------------------------------------------------------------------------------


def _estimator_state(g: GraphBuilder, name: str, width: int, init: np.ndarray) -> StateSpec:
    s_in, s_out = state_io(name)
    g.add_input(s_in, np.float64, ["B", 1, width])
    g.add_output(s_out, np.float64, ["B", 1, width])
    return StateSpec(name=name, input=s_in, output=s_out, shape=[1, 1, width], batch_axis=0, dtype="float64",
                     role="estimator", init="constant", init_value=np.asarray(init, dtype=np.float64).ravel().tolist())


def _running_mean(g: GraphBuilder, u: str, state: StateSpec, alpha: float, max_block: int, length: BlockLength,
                  hint: str) -> str:
    """``y_t = alpha y_{t-1} + (1 - alpha) u_t`` over ``u [B, T, M]`` with state ``y_{-1}`` ``[B, 1, M]``."""
    one = np.array([[1.0]])
    return add_linear_filter(g, u, state.input, state.output, alpha * one, (1.0 - alpha) * one, alpha * one,
                             1.0 - alpha, max_block, length, hint)


def _clipped(g: GraphBuilder, z: str, params: CspLdaParams | RiemannParams, hint: str) -> str:
    """``min(max(z, -b), b)`` per component of ``z [B, T, k]`` with ``b`` = :func:`~.reference.clip_bounds` of
    ``params`` (``z`` itself when it has no clip)."""
    bounds = clip_bounds(params)
    if bounds is None:
        return z
    upper = g.op("Min", [z, g.const(bounds, f"{hint}/clip_hi", np.float64)], f"{hint}/clip_upper")
    return g.op("Max", [upper, g.const(-bounds, f"{hint}/clip_lo", np.float64)], f"{hint}/clipped")


def _softmax_out(g: GraphBuilder, logits: str, n_out: int) -> None:
    prob = g.op("Softmax", [logits], "out/softmax", axis=-1)
    g.op("Cast", [prob], to=TensorProto.FLOAT, outputs=[Y])
    g.add_output(Y, np.float32, ["B", "T", n_out])


def add_csp_lda(g: GraphBuilder, params: CspLdaParams, max_block: int) -> tuple[str, str, list[StateSpec]]:
    """Preprocessing, CSP, running log power and LDA of ``params`` into ``g``: returns the log power
    ``[B, T, m]`` and the LDA logits ``[B, T, K]`` (float64) and the states (``zf`` if filtered, ``power``)."""
    if max_block < 1:
        raise ValueError(f"max_block must be >= 1, got {max_block}")
    n_chans = len(params.ch_names)
    u, length, states = add_preprocessing(g, params.preprocessing, n_chans, params.sfreq, max_block, dtype="float64")
    logp, logits, power = add_csp_lda_core(g, params, u, length, max_block)
    return logp, logits, [*states, power]


def add_csp_lda_core(g: GraphBuilder, params: CspLdaParams, u: str, length: BlockLength, max_block: int,
                     state: str = POWER_STATE) -> tuple[str, str, StateSpec]:
    """CSP, running log power and LDA of ``params`` on the preprocessed ``u [B, T, C]`` (float64): returns the
    log power ``[B, T, m]``, the LDA logits ``[B, T, K]`` and the running power's state (named ``state``)."""
    filters = np.asarray(params.filters, dtype=np.float64)
    coef = np.asarray(params.coef, dtype=np.float64)
    power = _estimator_state(g, state, filters.shape[1], params.power_init)
    s = _clipped(g, g.op("MatMul", [u, g.const(filters, "csp/filters", np.float64)], "csp/s"), params, "csp")
    p = _running_mean(g, g.op("Mul", [s, s], "csp/s2"), power, smoothing_factor(params.tau_s, params.sfreq),
                      max_block, length, "csp/power")
    logp = g.op("Log", [g.op("Max", [p, g.const(TINY, "csp/tiny", np.float64)], "csp/p_floor")], "csp/logp")
    logits = g.op("Add", [g.op("MatMul", [logp, g.const(coef.T, "lda/coef_t", np.float64)], "lda/z"),
                          g.const(np.asarray(params.intercept, dtype=np.float64), "lda/intercept", np.float64)],
                  "lda/logits")
    return logp, logits, power


def csp_lda_step_graph(params: CspLdaParams, max_block: int = DEFAULT_MAX_BLOCK) -> tuple[onnx.ModelProto, StepSpec]:
    """The CSP+LDA step graph of ``params`` and its I/O description (states ``zf`` if filtered, ``power``)."""
    check_csp_lda(params)
    n_chans = len(params.ch_names)
    m, n_out = np.asarray(params.filters).shape[1], np.asarray(params.coef).shape[0]
    g = GraphBuilder()
    _, logits, states = add_csp_lda(g, params, max_block)
    _softmax_out(g, logits, n_out)
    spec = StepSpec(family="csp_lda", n_chans=n_chans, n_outputs=n_out, max_block=max_block, states=states)
    doc = f"bci-stream CSP+LDA step graph: {m} components, tau {params.tau_s:g} s, {n_out} classes"
    return g.model("csp_lda_step", doc), spec


# -- tangent space + LR -----------------------------------------------------------------------------------


def riemann_step_graph(params: RiemannParams, max_block: int = DEFAULT_MAX_BLOCK, *,
                       logm_max_condition: float = LOGM_MAX_CONDITION) -> tuple[onnx.ModelProto, StepSpec]:
    """The tangent-space + LR step graph of ``params`` and its I/O description (states ``zf`` if filtered, ``cov``).

    ``logm_max_condition``: condition number of ``ref_isqrt @ R_t @ ref_isqrt`` up to which the matrix
    log is exact to :data:`~.logm_graph.LOGM_TOL` (see :mod:`.logm_graph`). The interpolant's degree
    grows like its square root, the matrix products like its fourth root: for n = 16, 1e2 -> degree 119,
    28 products; 3e2 -> 207, 37; 1e3 (default) -> 378, 46.
    """
    check_riemann(params)
    if max_block < 1:
        raise ValueError(f"max_block must be >= 1, got {max_block}")
    n_chans = len(params.ch_names)
    n = np.asarray(params.cov_init).shape[0]
    n_out = np.asarray(params.coef).shape[0]
    plan = logm_plan(n, logm_max_condition)
    g = GraphBuilder()
    u, length, states = add_preprocessing(g, params.preprocessing, n_chans, params.sfreq, max_block, dtype="float64")
    logits, cov = add_riemann_core(g, params, u, length, max_block, plan)
    _softmax_out(g, logits, n_out)
    spec = StepSpec(family="riemann", n_chans=n_chans, n_outputs=n_out, max_block=max_block, states=[*states, cov])
    doc = (f"bci-stream tangent-space + LR step graph: n {n}, tau {params.tau_s:g} s, shrinkage {params.shrinkage:g}, "
           f"{n_out} classes; logm by a degree-{plan.degree} Chebyshev interpolant on [{plan.lower:.3g}, 1] "
           f"(exact to {LOGM_TOL:g} up to condition {plan.max_condition:g})")
    return g.model("riemann_step", doc), spec


def add_riemann_core(g: GraphBuilder, params: RiemannParams, u: str, length: BlockLength, max_block: int,
                     plan, state: str = COV_STATE) -> tuple[str, StateSpec]:
    """Running covariance, whitening, matrix log (``plan`` of :func:`~.logm_graph.logm_plan`) and the logistic
    regression of ``params`` on the preprocessed ``u [B, T, C]`` (float64): returns the logits ``[B, T, K]``
    and the running covariance's state (named ``state``)."""
    cov_init = np.asarray(params.cov_init, dtype=np.float64)
    n = cov_init.shape[0]
    coef = np.asarray(params.coef, dtype=np.float64)
    n_out = coef.shape[0]
    cov = _estimator_state(g, state, n * n, cov_init)
    # outer products v v^T, flattened row-major, as v[..., rows] * v[..., cols] with v = u @ P
    v = u if params.projection is None else g.op(
        "MatMul", [u, g.const(np.asarray(params.projection, dtype=np.float64), "ts/proj", np.float64)], "ts/v")
    v = _clipped(g, v, params, "ts")
    rows, cols = np.divmod(np.arange(n * n), n)
    left = g.op("Gather", [v, g.const(rows, "ts/rows", np.int64)], "ts/v_rows", axis=2)
    right = g.op("Gather", [v, g.const(cols, "ts/cols", np.int64)], "ts/v_cols", axis=2)
    outer = g.op("Mul", [left, right], "ts/outer")
    s_flat = _running_mean(g, outer, cov, smoothing_factor(params.tau_s, params.sfreq), max_block, length, "ts/cov")
    # M = W R W = (1 - shrinkage) W S W + shrinkage trace(S) / n W^2
    w = np.asarray(params.ref_isqrt, dtype=np.float64)
    shrink = float(params.shrinkage)
    if n <= WHITEN_FLAT_MAX_N:  # one [n^2, n^2] MatMul on the flattened S (n^4 multiply-adds)
        kmap = (1.0 - shrink) * np.einsum("ik,lj->klij", w, w).reshape(n * n, n * n)
        kmap += (shrink / n) * np.outer(np.eye(n).ravel(), (w @ w).ravel())
        m_flat = g.op("MatMul", [s_flat, g.const(kmap, "ts/whiten", np.float64)], "ts/M_flat")
        mat = g.op("Reshape", [m_flat, g.const([0, 0, n, n], "ts/square", np.int64)], "ts/M")
    else:  # two n x n products and the trace (2 n^3 + n^2)
        s_mat = g.op("Reshape", [s_flat, g.const([0, 0, n, n], "ts/square", np.int64)], "ts/S")
        w_scaled = g.const(math.sqrt(1.0 - shrink) * w, "ts/w", np.float64)
        mat = g.op("MatMul", [g.op("MatMul", [w_scaled, s_mat], "ts/WS"), w_scaled], "ts/WSW")
        if shrink > 0:
            trace = g.op("MatMul", [s_flat, g.const(np.eye(n).reshape(n * n, 1), "ts/diag", np.float64)], "ts/trace")
            trace = g.op("Unsqueeze", [trace, g.const([-1], "ts/last", np.int64)], "ts/trace4")
            mat = g.op("Add", [mat, g.op("Mul", [trace, g.const(shrink / n * (w @ w), "ts/w2", np.float64)],
                                         "ts/shr")], "ts/M")
    log_m = add_logm(g, mat, plan, "logm")
    # readout: logits = L[triu] * weights @ coef.T + b, as one [n * n, K] matrix on the flattened log
    (iu, ju), weights = upper_coefficients(n)
    readout = np.zeros((n * n, n_out))
    readout[iu * n + ju] = (coef * weights).T
    log_flat = g.op("Reshape", [log_m, g.op("Shape", [s_flat], "ts/shape")], "ts/log_flat")  # [B, T, n * n]
    logits = g.op("Add", [g.op("MatMul", [log_flat, g.const(readout, "lr/readout", np.float64)], "lr/z"),
                          g.const(np.asarray(params.intercept, dtype=np.float64), "lr/intercept", np.float64)],
                  "lr/logits")
    return logits, cov


__all__ = ["COV_STATE", "POWER_STATE", "WHITEN_FLAT_MAX_N", "add_csp_lda", "add_csp_lda_core", "add_riemann_core",
           "csp_lda_step_graph", "riemann_step_graph"]
