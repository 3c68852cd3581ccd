"""Offline (numpy/scipy, float64) reference of the streaming classical decoders over a whole recording.

The math is the one of :mod:`bci_stream.train.classical.params`, computed for every sample of ``x [T, C]``
at once: the causal preprocessing with :class:`~bci_stream.signal.preprocess.Preprocessor`'s filter (state
initialised at the first sample, as the service does), the exponential running power / covariance with
:func:`scipy.signal.lfilter`, the matrix logarithm with :func:`numpy.linalg.eigh`. Export checks the step
graphs (:mod:`bci_stream.train.classical.graphs`) against these functions; the fitting code may use
the feature functions (:func:`csp_log_power`, :func:`tangent_features`) to get the exact features the
streaming decoder sees.

Long recordings are processed in chunks of :data:`CHUNK` samples (the running estimators carry their
state across chunks), so memory stays bounded (``CHUNK * n * n`` floats for the covariance).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from scipy import signal as sps

from bci_stream.signal.preprocess import Preprocessor
from bci_stream.train.classical.params import CspLdaParams, RiemannParams

#: Samples per chunk of the vectorised estimators (memory bound, not a result-changing choice).
CHUNK = 8192
#: Floor of the running power before its log (and of the matrix log's scale): keeps a flat-lined input
#: (the power decaying to 0) finite. Real powers are many orders of magnitude above it.
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
    cov = np.asarray(p.cov_init, dtype=np.float64)
    shrunk = (1.0 - p.shrinkage) * cov + p.shrinkage * np.trace(cov) / n * np.eye(n)
    shrunk_min = np.linalg.eigvalsh(shrunk).min()
    if not shrunk_min > 0:
        raise ValueError(f"cov_init after shrinkage must be positive definite (its log is taken at the first "
                         f"sample), got smallest eigenvalue {shrunk_min:.3g} with shrinkage {p.shrinkage:g}")
    _check_common(p, n * (n + 1) // 2)


# -- pieces ---------------------------------------------------------------------------------------------


def smoothing_factor(tau_s: float, sfreq: float) -> float:
    """``a = exp(-1 / (tau_s * sfreq))`` of the running estimators."""
    return math.exp(-1.0 / (tau_s * sfreq))


def preprocess64(params: CspLdaParams | RiemannParams, x: np.ndarray) -> np.ndarray:
    """The card's causal preprocessing of raw ``x [T, C]`` in float64 (filter state from the first sample).

    :meth:`Preprocessor.process` returns float32; this keeps float64 throughout, with the same filter
    (its SOS cascade, ``sosfilt_zi * x[0]`` initial state) and the same affine CAR/standardisation.
    """
    n_chans = len(params.ch_names)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != n_chans:
        raise ValueError(f"x must have shape (T, n_chans={n_chans}), got {x.shape}")
    pre = Preprocessor(params.preprocessing, n_chans, params.sfreq)
    u = x
    if pre.sos is not None and len(x):
        zi = sps.sosfilt_zi(pre.sos)[:, :, None] * x[0]
        u, _ = sps.sosfilt(pre.sos, x, axis=0, zi=zi)
    if pre.affine is not None:
        spatial, offset = pre.affine
        u = u @ spatial + offset
    return u


def _running_mean(a: float, values: np.ndarray, init: np.ndarray) -> np.ndarray:
    """``out_t = a * out_{t-1} + (1 - a) * values_t`` along axis 0, ``out_{-1} = init``, in chunks."""
    out = np.empty_like(values)
    zi = a * np.asarray(init, dtype=np.float64)[None]
    for i in range(0, len(values), CHUNK):
        out[i:i + CHUNK], zi = sps.lfilter([1.0 - a], [1.0, -a], values[i:i + CHUNK], axis=0, zi=zi)
    return out


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def logm_spd(mats: np.ndarray) -> np.ndarray:
    """Matrix logarithm of symmetric positive definite matrices ``[..., n, n]`` by ``eigh``."""
    w, v = np.linalg.eigh(mats)
    return (v * np.log(w)[..., None, :]) @ np.swapaxes(v, -1, -2)


def upper_coefficients(n: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """``(triu_indices(n), weights)``: pyriemann's tangent vector order, off-diagonal weight sqrt(2)."""
    rows, cols = np.triu_indices(n)
    return (rows, cols), np.where(rows == cols, 1.0, math.sqrt(2.0))


# -- CSP + LDA ------------------------------------------------------------------------------------------


def csp_log_power(params: CspLdaParams, x: np.ndarray) -> np.ndarray:
    """``log(p_t)`` ``[T, m]``: the CSP+LDA features of every sample of raw ``x [T, C]``."""
    check_csp_lda(params)
    s = preprocess64(params, x) @ np.asarray(params.filters, dtype=np.float64)
    a = smoothing_factor(params.tau_s, params.sfreq)
    return np.log(np.maximum(_running_mean(a, s * s, params.power_init), TINY))


def csp_lda_reference(params: CspLdaParams, x: np.ndarray) -> np.ndarray:
    """Class probabilities ``y [T, K]`` (float64) of the CSP+LDA decoder for every sample of raw ``x [T, C]``."""
    feats = csp_log_power(params, x)
    return _softmax(feats @ np.asarray(params.coef, dtype=np.float64).T + np.asarray(params.intercept))


# -- tangent space + LR ---------------------------------------------------------------------------------


def whitened_covariance_chunks(params: RiemannParams, x: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, M)`` for consecutive chunks: ``M [t, n, n] = ref_isqrt @ R_t @ ref_isqrt`` of raw ``x [T, C]``.

    ``R_t`` is the shrunk running covariance of params.py; chunks hold at most :data:`CHUNK` samples.
    """
    check_riemann(params)
    v = preprocess64(params, x)
    if params.projection is not None:
        v = v @ np.asarray(params.projection, dtype=np.float64)
    n = v.shape[1]
    a = smoothing_factor(params.tau_s, params.sfreq)
    w = np.asarray(params.ref_isqrt, dtype=np.float64)
    shrink = float(params.shrinkage)
    diag = np.arange(n)
    zi = a * np.asarray(params.cov_init, dtype=np.float64).reshape(1, n * n)
    for i in range(0, len(v), CHUNK):
        blk = v[i:i + CHUNK]
        outer = (blk[:, :, None] * blk[:, None, :]).reshape(len(blk), n * n)
        cov, zi = sps.lfilter([1.0 - a], [1.0, -a], outer, axis=0, zi=zi)
        cov = cov.reshape(-1, n, n)
        if shrink:
            trace = np.trace(cov, axis1=1, axis2=2)
            cov *= 1.0 - shrink
            cov[:, diag, diag] += (shrink / n) * trace[:, None]
        yield i, w @ cov @ w


def tangent_features(params: RiemannParams, x: np.ndarray) -> np.ndarray:
    """``f_t`` ``[T, n (n + 1) / 2]``: the tangent vectors of every sample of raw ``x [T, C]``."""
    check_riemann(params)
    n = np.asarray(params.cov_init).shape[0]
    (rows, cols), weights = upper_coefficients(n)
    feats = np.empty((len(x), len(rows)))
    for i, mats in whitened_covariance_chunks(params, x):
        feats[i:i + len(mats)] = logm_spd(mats)[:, rows, cols] * weights
    return feats


def riemann_reference(params: RiemannParams, x: np.ndarray) -> np.ndarray:
    """Class probabilities ``y [T, K]`` (float64) of the tangent-space decoder for every sample of raw ``x [T, C]``."""
    feats = tangent_features(params, x)
    return _softmax(feats @ np.asarray(params.coef, dtype=np.float64).T + np.asarray(params.intercept))
