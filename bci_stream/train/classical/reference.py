"""Offline (numpy/scipy, float64) reference of the streaming classical decoders over a whole recording.

The math is the one of :mod:`bci_stream.train.classical.params`, computed for every sample of ``x [T, C]``
at once: the causal preprocessing with :class:`~bci_stream.dsp.preprocess.Preprocessor`'s filter (state
initialised at the first sample, as the service does), the exponential running power / covariance with
:func:`scipy.signal.lfilter`, the matrix logarithm with :func:`numpy.linalg.eigh`. Export checks the step
graphs (:mod:`bci_stream.train.classical.graphs`) against these functions. Each step is implemented here
once: the fitting code (:mod:`.features`, :mod:`.fit`) builds on the same pieces (:func:`preprocess`,
:func:`running_log_power`, :func:`running_covariance_entries`, :func:`tangent_vectors`, :func:`readout`),
so it trains on exactly the features the streaming decoder sees.

Long recordings are processed in chunks of :data:`CHUNK` samples (the running estimators carry their
state across chunks), so memory stays bounded (``CHUNK * n * n`` floats for the covariance).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

import numpy as np
from scipy import signal as sps

from bci_stream.dsp.preprocess import PreprocessingConfig, Preprocessor
from bci_stream.train.classical.params import CspLdaParams, RiemannParams

#: Samples per chunk of the vectorised estimators (memory bound, not a result-changing choice).
CHUNK = 8192
#: Floor of the running power before its log, of the eigenvalues in :func:`logm_spd` (and of the graph's
#: matrix-log scale): keeps a flat-lined input (the power decaying to 0) finite. Real values are many
#: orders of magnitude above it.
TINY = 1e-300


# -- checks ---------------------------------------------------------------------------------------------


def _shape(name: str, value: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got NaN or inf")
    return arr


def _check_common(p: CspLdaParams | RiemannParams, n_features: int) -> int:
    """Checks shared by both families; returns the number of outputs K."""
    if len(p.ch_names) < 1 or len(set(p.ch_names)) != len(p.ch_names):
        raise ValueError(f"ch_names must be non-empty and unique, got {p.ch_names}")
    if not (math.isfinite(p.sfreq) and p.sfreq > 0):
        raise ValueError(f"sfreq must be finite and > 0, got {p.sfreq}")
    if not (math.isfinite(p.tau_s) and p.tau_s > 0):
        raise ValueError(f"tau_s must be finite and > 0, got {p.tau_s}")
    if p.clip_sd is not None and not (math.isfinite(p.clip_sd) and p.clip_sd > 0):
        raise ValueError(f"clip_sd must be None (no clip) or finite and > 0, got {p.clip_sd}")
    n_out = len(p.labels)
    if n_out < 1 or len(set(p.labels)) != n_out:
        raise ValueError(f"labels must be non-empty and unique, got {p.labels}")
    _shape("coef", p.coef, (n_out, n_features))
    _shape("intercept", p.intercept, (n_out,))
    return n_out


def check_csp_lda(p: CspLdaParams) -> None:
    """Validate shapes and values of CSP+LDA parameters.

    Raises
    ------
    ValueError
        Naming the parameter, the rule and the bad value.
    """
    filters = np.asarray(p.filters)
    if filters.ndim != 2 or filters.shape[0] != len(p.ch_names) or filters.shape[1] < 1:
        raise ValueError(f"filters must have shape (n_chans={len(p.ch_names)}, m >= 1), got {filters.shape}")
    m = filters.shape[1]
    _shape("filters", filters, (len(p.ch_names), m))
    power_init = _shape("power_init", p.power_init, (m,))
    if not (power_init > 0).all():
        raise ValueError(f"power_init must be > 0 for every component (its log is taken), got {power_init.tolist()}")
    _check_common(p, m)


def check_riemann(p: RiemannParams) -> None:
    """Validate shapes and values of tangent-space + LR parameters.

    Raises
    ------
    ValueError
        Naming the parameter, the rule and the bad value.
    """
    n_chans = len(p.ch_names)
    if p.projection is None:
        n = n_chans
    else:
        proj = np.asarray(p.projection)
        if proj.ndim != 2 or proj.shape[0] != n_chans or proj.shape[1] < 1:
            raise ValueError(f"projection must be None or have shape (n_chans={n_chans}, n >= 1), got {proj.shape}")
        n = proj.shape[1]
        _shape("projection", proj, (n_chans, n))
    if not (math.isfinite(p.shrinkage) and 0.0 <= p.shrinkage <= 1.0):
        raise ValueError(f"shrinkage must be in [0, 1], got {p.shrinkage}")
    for name in ("cov_init", "ref_isqrt"):
        mat = _shape(name, getattr(p, name), (n, n))
        scale = np.abs(mat).max()
        if not np.allclose(mat, mat.T, rtol=0.0, atol=1e-10 * scale):
            raise ValueError(f"{name} must be symmetric, got max |{name} - {name}.T| = {np.abs(mat - mat.T).max():.3g} "
                             f"(largest entry {scale:.3g})")
    ref_min = np.linalg.eigvalsh(np.asarray(p.ref_isqrt, dtype=np.float64)).min()
    if not ref_min > 0:
        raise ValueError(f"ref_isqrt must be positive definite, got smallest eigenvalue {ref_min:.3g}")
    shrunk_min = np.linalg.eigvalsh(shrink(np.asarray(p.cov_init, dtype=np.float64), p.shrinkage)).min()
    if not shrunk_min > 0:
        raise ValueError(f"cov_init after shrinkage must be positive definite (its log is taken at the first "
                         f"sample), got smallest eigenvalue {shrunk_min:.3g} with shrinkage {p.shrinkage:g}")
    _check_common(p, n * (n + 1) // 2)


# -- pieces ---------------------------------------------------------------------------------------------


def smoothing_factor(tau_s: float, sfreq: float) -> float:
    """``a = exp(-1 / (tau_s * sfreq))`` of the running estimators.

    Raises
    ------
    ValueError
        ``tau_s`` is not > 0.
    """
    if not tau_s > 0:
        raise ValueError(f"tau_s must be > 0 seconds, got {tau_s}")
    return math.exp(-1.0 / (tau_s * sfreq))


def preprocess(x: np.ndarray, sfreq: float, config: PreprocessingConfig) -> np.ndarray:
    """Causal preprocessing of a whole run ``x [T, C]`` (raw) in float64 (filter state from the first sample).

    :meth:`Preprocessor.process` returns float32; this keeps float64 throughout, with the same filter
    (its SOS cascade, ``sosfilt_zi * x[0]`` initial state) and the same affine CAR/standardisation.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D [T, n_chans], got shape {x.shape}")
    pre = Preprocessor(config, x.shape[1], sfreq)
    u = x
    if pre.sos is not None and len(x):
        zi = sps.sosfilt_zi(pre.sos)[:, :, None] * x[0]
        u, _ = sps.sosfilt(pre.sos, x, axis=0, zi=zi)
    if pre.affine is not None:
        spatial, offset = pre.affine
        u = u @ spatial + offset
    return u


def component_bounds(clip_sd: float | None, mean_power: np.ndarray) -> np.ndarray | None:
    """``clip_sd * sqrt(mean_power)`` per component (None when ``clip_sd`` is None: no clip)."""
    return None if clip_sd is None else clip_sd * np.sqrt(np.asarray(mean_power, dtype=np.float64))


def clip_bounds(params: CspLdaParams | RiemannParams) -> np.ndarray | None:
    """Per-component bound ``clip_sd * sqrt(power_init)`` (CSP) or ``clip_sd * sqrt(diag(cov_init))`` (tangent
    space) of params.py, or None when ``params`` has no clip."""
    mean_power = params.power_init if isinstance(params, CspLdaParams) else np.diag(np.asarray(params.cov_init))
    return component_bounds(params.clip_sd, mean_power)


def clip_components(z: np.ndarray, bounds: np.ndarray | None) -> np.ndarray:
    """``min(max(z, -bounds), bounds)`` over the last axis of ``z`` (``z`` itself when ``bounds`` is None)."""
    return z if bounds is None else np.clip(z, -bounds, bounds)


def components(params: CspLdaParams | RiemannParams, u: np.ndarray) -> np.ndarray:
    """The clipped components of preprocessed ``u [T, C]``: ``s_t`` (CSP) or ``v_t`` (tangent space) of params.py."""
    if isinstance(params, CspLdaParams):
        z = u @ np.asarray(params.filters, dtype=np.float64)
    else:
        z = u if params.projection is None else u @ np.asarray(params.projection, dtype=np.float64)
    return clip_components(z, clip_bounds(params))


def preprocess64(params: CspLdaParams | RiemannParams, x: np.ndarray) -> np.ndarray:
    """:func:`preprocess` of raw ``x [T, C]`` with the card's preprocessing of ``params`` (C = its channels)."""
    n_chans = len(params.ch_names)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != n_chans:
        raise ValueError(f"x must have shape (T, n_chans={n_chans}), got {x.shape}")
    return preprocess(x, params.sfreq, params.preprocessing)


def running_mean_blocks(a: float, blocks: Iterable[np.ndarray], init: np.ndarray) -> Iterator[np.ndarray]:
    """``out_t = a * out_{t-1} + (1 - a) * values_t`` over consecutive blocks of ``values`` (axis 0).

    The state carries across blocks, starting from ``out_{-1} = init`` (the shape of one sample).
    """
    zi = a * np.asarray(init, dtype=np.float64)[None]
    for block in blocks:
        out, zi = sps.lfilter([1.0 - a], [1.0, -a], block, axis=0, zi=zi)
        yield out


def running_mean(a: float, values: np.ndarray, init: np.ndarray) -> np.ndarray:
    """:func:`running_mean_blocks` of the whole ``values [T, ...]``, in chunks of :data:`CHUNK` samples."""
    out = np.empty_like(values)
    starts = range(0, len(values), CHUNK)
    for i, block in zip(starts, running_mean_blocks(a, (values[i:i + CHUNK] for i in starts), init)):
        out[i:i + len(block)] = block
    return out


def running_log_power(s: np.ndarray, a: float, power_init: np.ndarray) -> np.ndarray:
    """``log(p_t)`` ``[T, m]`` of the running power of components ``s [T, m]`` (floored at :data:`TINY`)."""
    return np.log(np.maximum(running_mean(a, s * s, power_init), TINY))


def _covariance_layout(init: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(rows, cols, symmetric)``: the entries of ``S`` that are filtered.

    Every entry is filtered on its own, so with an exactly symmetric ``init`` (``S`` then stays symmetric)
    the upper triangle suffices, mirrored: the same numbers at about half the cost.
    """
    n = init.shape[0]
    symmetric = bool(np.array_equal(init, init.T))
    rows, cols = np.triu_indices(n) if symmetric else np.divmod(np.arange(n * n), n)
    return rows, cols, symmetric


def running_covariance_entries(v: np.ndarray, a: float, init: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, E [t, k])`` for consecutive chunks of ``v [T, n]``: the running covariance of params.py.

    ``S_t = a S_{t-1} + (1 - a) v_t v_t^T`` with ``S_{-1} = init``, as the ``k`` filtered entries of
    :func:`covariance_from_entries` (which makes the matrices); chunks hold at most :data:`CHUNK` samples.
    """
    init = np.asarray(init, dtype=np.float64)
    rows, cols, _ = _covariance_layout(init)
    starts = range(0, len(v), CHUNK)
    products = (v[i:i + CHUNK, rows] * v[i:i + CHUNK, cols] for i in starts)
    yield from zip(starts, running_mean_blocks(a, products, init[rows, cols]))


def covariance_from_entries(entries: np.ndarray, init: np.ndarray) -> np.ndarray:
    """The matrices ``S [t, n, n]`` of entries ``[t, k]`` of :func:`running_covariance_entries` (same ``init``)."""
    init = np.asarray(init, dtype=np.float64)
    rows, cols, symmetric = _covariance_layout(init)
    n = init.shape[0]
    cov = np.empty((len(entries), n, n))
    cov[:, rows, cols] = entries
    if symmetric:
        cov[:, cols, rows] = entries
    return cov


def running_covariance_chunks(v: np.ndarray, a: float, init: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, S [t, n, n])`` for consecutive chunks of ``v [T, n]`` (:func:`running_covariance_entries`)."""
    for i, entries in running_covariance_entries(v, a, init):
        yield i, covariance_from_entries(entries, init)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis."""
    z = logits - logits.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def readout(params: CspLdaParams | RiemannParams, feats: np.ndarray) -> np.ndarray:
    """Class probabilities ``softmax(feats @ coef.T + intercept)`` of features ``[..., F]``."""
    return softmax(feats @ np.asarray(params.coef, dtype=np.float64).T + np.asarray(params.intercept))


def eigh_function(mats: np.ndarray, fun: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``V fun(w) V^T`` of symmetric matrices ``[..., n, n] = V w V^T`` (by ``eigh``)."""
    w, v = np.linalg.eigh(mats)
    return (v * fun(w)[..., None, :]) @ np.swapaxes(v, -1, -2)


def logm_spd(mats: np.ndarray) -> np.ndarray:
    """Matrix logarithm of symmetric positive definite matrices ``[..., n, n]`` (eigenvalues floored at TINY)."""
    return eigh_function(mats, lambda w: np.log(np.maximum(w, TINY)))


def shrink(s: np.ndarray, shrinkage: float) -> np.ndarray:
    """``R = (1 - shrinkage) S + shrinkage trace(S) / n I`` for ``S [..., n, n]``."""
    n = s.shape[-1]
    trace = np.trace(s, axis1=-2, axis2=-1)[..., None, None]
    return (1.0 - shrinkage) * s + shrinkage * trace / n * np.eye(n)


def whiten(s: np.ndarray, shrinkage: float, ref_isqrt: np.ndarray) -> np.ndarray:
    """``M = W R W`` (``W = ref_isqrt``, ``R`` = :func:`shrink` of ``S [..., n, n]``)."""
    w = np.asarray(ref_isqrt, dtype=np.float64)
    return w @ shrink(s, shrinkage) @ w


def upper_coefficients(n: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """``(triu_indices(n), weights)``: pyriemann's tangent vector order, off-diagonal weight sqrt(2)."""
    rows, cols = np.triu_indices(n)
    return (rows, cols), np.where(rows == cols, 1.0, math.sqrt(2.0))


def upper_vector(m: np.ndarray) -> np.ndarray:
    """pyriemann's tangent vector ``[..., n (n + 1) / 2]`` of symmetric ``m [..., n, n]``."""
    (rows, cols), weights = upper_coefficients(m.shape[-1])
    return m[..., rows, cols] * weights


def tangent_vectors(s: np.ndarray, shrinkage: float, ref_isqrt: np.ndarray) -> np.ndarray:
    """``f`` of running covariances ``S [..., n, n]``: shrink, whiten, ``logm``, upper triangle."""
    return upper_vector(logm_spd(whiten(s, shrinkage, ref_isqrt)))


# -- CSP + LDA ------------------------------------------------------------------------------------------


def csp_log_power(params: CspLdaParams, x: np.ndarray) -> np.ndarray:
    """``log(p_t)`` ``[T, m]``: the CSP+LDA features of every sample of raw ``x [T, C]``."""
    check_csp_lda(params)
    s = components(params, preprocess64(params, x))
    return running_log_power(s, smoothing_factor(params.tau_s, params.sfreq), params.power_init)


def csp_lda_reference(params: CspLdaParams, x: np.ndarray) -> np.ndarray:
    """Class probabilities ``y [T, K]`` (float64) of the CSP+LDA decoder for every sample of raw ``x [T, C]``."""
    return readout(params, csp_log_power(params, x))


# -- tangent space + LR ---------------------------------------------------------------------------------


def _covariance_chunks(params: RiemannParams, x: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`running_covariance_chunks` of the projected, preprocessed raw ``x [T, C]``."""
    check_riemann(params)
    v = components(params, preprocess64(params, x))
    return running_covariance_chunks(v, smoothing_factor(params.tau_s, params.sfreq), params.cov_init)


def whitened_covariance_chunks(params: RiemannParams, x: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, M)`` for consecutive chunks: ``M [t, n, n] = ref_isqrt @ R_t @ ref_isqrt`` of raw ``x [T, C]``.

    ``R_t`` is the shrunk running covariance of params.py; chunks hold at most :data:`CHUNK` samples.
    """
    for i, cov in _covariance_chunks(params, x):
        yield i, whiten(cov, params.shrinkage, params.ref_isqrt)


def tangent_features(params: RiemannParams, x: np.ndarray) -> np.ndarray:
    """``f_t`` ``[T, n (n + 1) / 2]``: the tangent vectors of every sample of raw ``x [T, C]``."""
    n = np.asarray(params.cov_init).shape[0]
    feats = np.empty((len(x), n * (n + 1) // 2))
    for i, cov in _covariance_chunks(params, x):
        feats[i:i + len(cov)] = tangent_vectors(cov, params.shrinkage, params.ref_isqrt)
    return feats


def riemann_reference(params: RiemannParams, x: np.ndarray) -> np.ndarray:
    """Class probabilities ``y [T, K]`` (float64) of the tangent-space decoder for every sample of raw ``x [T, C]``."""
    return readout(params, tangent_features(params, x))
