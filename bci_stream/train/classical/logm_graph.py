"""The matrix logarithm of SPD matrices in a step graph, by matrix products only (:func:`add_logm`).

ONNX has no eigendecomposition (nor inverse), so the log is a polynomial in ``M`` evaluated with matrix
products. ``M`` is SPD; with ``c = trace(M^4)^(1/4)`` (>= the largest eigenvalue, <= n^(1/4) times it),
``A = M / c`` has its eigenvalues in ``(0, 1]`` and ``log M = log(c) I + log A``. ``log A`` is the
Chebyshev interpolant ``p`` of ``log`` on ``[a, 1]``, ``a = 1 / (n^(1/4) max_condition)``, of the smallest
degree whose error is <= ``LOGM_TOL`` (1e-8): when the condition number of ``M`` is at most
``max_condition`` (default 1e3) every eigenvalue of ``A`` is in ``[a, 1]``, so every entry of the result
is within 1e-8 of the eigendecomposition's log (rounding adds ~1e-11: the polynomial is evaluated on
``X = (2A - (1 + a) I) / (1 - a)``, eigenvalues in [-1, 1], where every intermediate stays bounded).

Evaluation (baby-step giant-step, Paterson-Stockmeyer style): ``H_k = 2 T_k(X)`` (``H_1 = 2X``,
``H_2k = H_k^2 - 2I``). Baby steps: the ``s`` products ``P_i = prod_{bit b of i} H_(2^b)`` (degrees 0..s-1;
each doubling is one batched MatMul). Leaves: ``L = 2^gamma`` polynomials of degree < s, as one
``[L, s] @ [s, n^2]`` GEMM (coefficients converted from the Chebyshev basis to the ``P_i`` basis, which is
triangular with condition <= 50). Tree: ``gamma`` levels of ``q H_m + r`` (``m = s, 2s, 4s, ..``; one
batched MatMul each), the exact Chebyshev division ``p = q T_m + r`` made offline. All matrices are
polynomials in ``M`` and commute, so the baby steps and leaves are stacked vertically (``[B, T, k n, n]``)
and every doubling or tree level is a single GEMM per sample. For n = 8 or 16 and ``max_condition`` 1e3:
degree 346 / 378, s = 24, L = 16, 46 n x n products plus one 384 x n^2 combination, ~55 nodes.

Accuracy of the graph's log against eigh (worst-case spectra for the trace bound, n = 8 | 16):
condition 10: 8e-11 | 4e-11; 100: 6e-10 | 3e-10; 1e3: 7e-9 | 3e-9; beyond ``max_condition`` the error
grows quickly but stays finite: 2e3: 1e-3; 3e3: 1e-2; 1e4: 0.2; 1e5: 1.5. Real EEG (EEGMMIDB, 3 subjects,
sensorimotor channels, CSP projection to n = 16, shrinkage 0.05) gives condition numbers <= ~110 with
``tau_s`` = 1 s, <= ~170 with 0.5 s, <= ~720 with 0.25 s and shrinkage 0.01; raise ``max_condition``
(cost grows like its square root in degree, its fourth root in products) for more extreme settings.
:func:`logm_products` is the same algorithm in numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.polynomial import chebyshev as cheb

from bci_stream.train.classical.reference import TINY
from bci_stream.train.export.graph import GraphBuilder

#: Condition number of the whitened covariance up to which the matrix log is exact to LOGM_TOL.
LOGM_MAX_CONDITION = 1e3
#: Largest error of the Chebyshev interpolant of log on the design interval.
LOGM_TOL = 1e-8


@dataclass(frozen=True)
class LogmPlan:
    """How the graph evaluates ``log`` of an SPD matrix (see the module docstring).

    Attributes
    ----------
    n
        Matrix size.
    max_condition
        Condition number up to which the result is within ``max_error`` of the exact log.
    lower
        ``a = 1 / (n^(1/4) max_condition)``: the interpolant covers the eigenvalues ``[a, 1]`` of ``M / c``.
    degree
        Degree of the Chebyshev interpolant (the smallest with error <= ``tol``).
    n_baby
        ``s``, a power of two or three times one (>= 2): the baby steps are ``P_0 .. P_(s-1)``,
        ``P_i = prod_{bit b of i} H_(2^b)``.
    n_levels
        ``gamma``: ``L = 2^gamma`` leaves, ``s L > degree``.
    leaf_coef
        ``[L, s]``: the leaf polynomials in the basis ``P_i``.
    max_error
        Largest error of the interpolant on ``[a, 1]`` (on a dense grid).
    """

    n: int
    max_condition: float
    lower: float
    degree: int
    n_baby: int
    n_levels: int
    leaf_coef: np.ndarray
    max_error: float

    @property
    def n_factors(self) -> int:
        """``sigma``: the baby steps use ``H_1, H_2, .., H_(2^(sigma-1))``."""
        return (self.n_baby - 1).bit_length()

    @property
    def n_leaves(self) -> int:
        return 1 << self.n_levels

    @property
    def n_matmuls(self) -> int:
        """n x n matrix products per sample: M^2, baby products, giants, tree."""
        return 1 + (self.n_baby - 2) + (self.n_factors - 1 + self.n_levels) + (self.n_leaves - 1)


def _log_interpolant(a: float, degree: int) -> np.ndarray:
    return cheb.chebinterpolate(lambda x: np.log((x * (1.0 - a) + (1.0 + a)) / 2.0), degree)


def _interpolant_error(a: float, coef: np.ndarray) -> float:
    lam = np.concatenate([np.geomspace(a, 1.0, 4001),
                          (1.0 + a) / 2.0 - (1.0 - a) / 2.0 * np.cos(np.linspace(0.0, np.pi, 4001))])
    x = (2.0 * lam - (1.0 + a)) / (1.0 - a)
    return float(np.abs(cheb.chebval(x, coef) - np.log(lam)).max())


def _split(c: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``p = q H_m + r`` for ``p = sum c_k T_k`` with ``len(c) == 2m``; returns ``(q, r)`` (T basis, length m)."""
    r, q = c[:m].copy(), np.zeros(m)
    q[0] = c[m] / 2.0  # T_m = H_m / 2
    for j in range(1, m):  # T_{m+j} = 2 T_m T_j - T_{m-j} = H_m T_j - T_{m-j}
        q[j] = c[m + j]
        r[m - j] -= c[m + j]
    return q, r


def _leaves(c: np.ndarray, s: int) -> list[np.ndarray]:
    """Leaf polynomials (T basis, length s), the top split the most significant bit of the leaf index."""
    if len(c) == s:
        return [c]
    q, r = _split(c, len(c) // 2)
    return _leaves(r, s) + _leaves(q, s)


def _product_basis(s: int) -> np.ndarray:
    """``[s, s]``: column i = Chebyshev coefficients of ``P_i`` (upper triangular, well conditioned)."""
    basis = np.zeros((s, s))
    for i in range(s):
        series = np.array([1.0])
        for b in range(i.bit_length()):
            if i >> b & 1:
                h = np.zeros((1 << b) + 1)
                h[-1] = 2.0
                series = cheb.chebmul(series, h)
        basis[:len(series), i] = series
    return basis


def _allowed_baby(lower: int) -> int:
    """The smallest s >= lower among 2, 4, 6, 8, 12, 16, 24, ... (powers of two, and 3/2 of those >= 4)."""
    p = 2
    while True:
        if p >= lower:
            return p
        if p >= 4 and 3 * p // 2 >= lower:
            return 3 * p // 2
        p *= 2


@lru_cache(maxsize=32)
def logm_plan(n: int, max_condition: float = LOGM_MAX_CONDITION, tol: float = LOGM_TOL) -> LogmPlan:
    """The evaluation plan of the matrix log for ``n x n`` matrices of condition number <= ``max_condition``.

    Raises
    ------
    ValueError
        ``n < 1``, ``max_condition < 2`` (or so large that the degree passes 2^14) or ``tol`` outside
        (1e-14, 1e-2).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not (math.isfinite(max_condition) and max_condition >= 2):
        raise ValueError(f"max_condition must be finite and >= 2, got {max_condition}")
    if not 1e-14 < tol < 1e-2:
        raise ValueError(f"tol must be in (1e-14, 1e-2), got {tol}")
    a = 1.0 / (n ** 0.25 * max_condition)
    lo, hi = 1, 8
    while _interpolant_error(a, _log_interpolant(a, hi)) > tol:
        lo, hi = hi, hi * 2
        if hi > 1 << 14:
            raise ValueError(f"max_condition={max_condition:g} needs a log interpolant of degree > {1 << 14}; "
                             f"use a smaller max_condition (or more shrinkage)")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _interpolant_error(a, _log_interpolant(a, mid)) > tol else (lo, mid)
    degree = hi
    coef = _log_interpolant(a, degree)
    # L = 2^gamma leaves near sqrt(degree), s baby steps: s L > degree (balances products and nodes)
    n_levels = max(1, round(math.log2(math.sqrt(degree + 1))))
    n_baby = _allowed_baby(-(-(degree + 1) // (1 << n_levels)))
    padded = np.zeros(n_baby << n_levels)
    padded[:degree + 1] = coef
    leaf_t = np.array(_leaves(padded, n_baby))  # [L, s], T basis
    # row order: the bottom split (first tree level) is the most significant bit, so that every level
    # splits the leading non-unit axis (contiguous halves)
    order = [int(format(i, f"0{n_levels}b")[::-1], 2) for i in range(1 << n_levels)]
    leaf_coef = np.linalg.solve(_product_basis(n_baby), leaf_t[order].T).T
    return LogmPlan(n=n, max_condition=float(max_condition), lower=a, degree=degree, n_baby=n_baby,
                    n_levels=n_levels, leaf_coef=leaf_coef, max_error=_interpolant_error(a, coef))


def _scales(plan: LogmPlan) -> tuple[float, float]:
    """``(h, beta2)``: ``H_1 = 2X = h M / c - beta2 I``."""
    a = plan.lower
    return 4.0 / (1.0 - a), 2.0 * (1.0 + a) / (1.0 - a)


def logm_products(mats: np.ndarray, plan: LogmPlan) -> np.ndarray:
    """``log`` of SPD matrices ``[..., n, n]`` with matrix products only: the step graph's algorithm in numpy."""
    eye = np.eye(plan.n)
    m2 = mats @ mats
    c4 = np.maximum((m2 * m2).sum(axis=(-2, -1), keepdims=True), TINY)
    h, beta2 = _scales(plan)
    giant = mats * (h * c4 ** -0.25) - beta2 * eye  # H_1
    stacks = {2: np.stack([np.broadcast_to(eye, giant.shape), giant])}  # P_0, P_1
    giants = {1: giant}
    s, size = plan.n_baby, 2
    for b in range(1, plan.n_factors):
        giant = giants[1 << b] = giant @ giant - 2.0 * eye
        take = min(1 << b, s - size)
        stacks[size + take] = np.concatenate([stacks[size], giant @ stacks[take]])
        size += take
    gamma = plan.n_levels
    cur = (plan.leaf_coef @ stacks[s].reshape(s, -1)).reshape([2] * gamma + list(giant.shape))
    for level in range(gamma):
        if level == 0 and s & (s - 1):  # s = 3 * 2^k: H_s = H_(2^(k+1)) H_(2^k) - H_(2^k)
            low = giants[s // 3]
            giant = giant @ low - low
        else:
            giant = giant @ giant - 2.0 * eye
        r, q = np.split(cur, 2, axis=level)
        cur = q @ giant + r
    return cur.reshape(giant.shape) + 0.25 * np.log(c4) * eye


def add_logm(g: GraphBuilder, m: str, plan: LogmPlan, hint: str = "logm") -> str:
    """``log M`` ``[B, T, n, n]`` of ``m [B, T, n, n]`` (SPD, float64) with matrix products only.

    The algorithm of :func:`logm_products`, laid out for few, large GEMMs. Every matrix involved is a
    polynomial in ``M``, so they all commute: the baby steps are stacked vertically, ``[B, T, s n, n]``
    (block i = ``P_i``), and a doubling is one ``stack @ H``; the leaves likewise ``[B, T, L n, n]``
    (one ``[L, s] @ [s, n^2]`` GEMM per sample), and a tree level is one ``q @ H + r`` on the two halves.
    """
    n, gamma, s = plan.n, plan.n_levels, plan.n_baby
    eye = np.eye(n)
    h, beta2 = _scales(plan)
    i64 = np.int64
    m2 = g.op("MatMul", [m, m], f"{hint}/m2")
    c4 = g.op("Max", [g.op("ReduceSumSquare", [m2], f"{hint}/c4", axes=[-2, -1], keepdims=1),
                      g.const(TINY, f"{hint}/tiny", np.float64)], f"{hint}/c4_floor")
    h_c = g.op("Mul", [g.op("Pow", [c4, g.const(-0.25, f"{hint}/m_quarter", np.float64)], f"{hint}/inv_c"),
                       g.const(h, f"{hint}/h", np.float64)], f"{hint}/h_c")
    beta_eye = g.const(beta2 * eye, f"{hint}/beta_eye", np.float64)
    giant = g.op("Sub", [g.op("Mul", [m, h_c], f"{hint}/m_scaled"), beta_eye], f"{hint}/H1")
    two_eye = g.const(2.0 * eye, f"{hint}/two_eye", np.float64)
    p0 = g.op("Expand", [g.const(eye, f"{hint}/eye", np.float64), g.op("Shape", [m], f"{hint}/shape")], f"{hint}/P0")
    stacks = {1: p0, 2: g.op("Concat", [p0, giant], f"{hint}/stack2", axis=-2)}
    giants = {1: giant}
    size = 2
    for b in range(1, plan.n_factors):
        giant = giants[1 << b] = g.op("Sub", [g.op("MatMul", [giant, giant], f"{hint}/sq{b}"), two_eye],
                                      f"{hint}/H{1 << b}")
        take = min(1 << b, s - size)
        new = g.op("MatMul", [stacks[take], giant], f"{hint}/prod{b}")
        stacks[size + take] = g.op("Concat", [stacks[size], new], f"{hint}/stack{size + take}", axis=-2)
        size += take
    flat = g.op("Reshape", [stacks[s], g.const([0, 0, s, n * n], f"{hint}/flat", i64)], f"{hint}/stack_flat")
    leaves = g.op("MatMul", [g.const(plan.leaf_coef, f"{hint}/leaf_coef", np.float64), flat], f"{hint}/leaves_flat")
    cur = g.op("Reshape", [leaves, g.const([0, 0, plan.n_leaves * n, n], f"{hint}/tall", i64)], f"{hint}/leaves")
    for level in range(gamma):
        if level == 0 and s & (s - 1):  # s = 3 * 2^k: H_s = H_(2^(k+1)) H_(2^k) - H_(2^k)
            low = giants[s // 3]
            giant = g.op("Sub", [g.op("MatMul", [giant, low], f"{hint}/gs"), low], f"{hint}/G{level}")
        else:
            giant = g.op("Sub", [g.op("MatMul", [giant, giant], f"{hint}/gsq{level}"), two_eye], f"{hint}/G{level}")
        r, q = g.op("Split", [cur], f"{hint}/split{level}", n_out=2, axis=-2)
        cur = g.op("Add", [g.op("MatMul", [q, giant], f"{hint}/qg{level}"), r], f"{hint}/level{level}")
    log_c = g.op("Mul", [g.op("Log", [c4], f"{hint}/log_c4"), g.const(0.25 * eye, f"{hint}/quarter_eye", np.float64)],
                 f"{hint}/log_c_eye")
    return g.op("Add", [cur, log_c], f"{hint}/log")


__all__ = ["LOGM_MAX_CONDITION", "LOGM_TOL", "LogmPlan", "add_logm", "logm_plan", "logm_products"]
