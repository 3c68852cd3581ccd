"""Fitted parameters of the streaming classical decoders: the interface between fitting and export.

Both families run the card's causal preprocessing first (band-pass with carried state, optional CAR;
no standardisation), in float64, on the channels ``ch_names`` (in that order). Then, per sample t:

CSP + LDA (:class:`CspLdaParams`)::

    s_t = clip(u_t @ filters, clip_sd * sqrt(power_init))   # [m] CSP components (unclipped if clip_sd is None)
    p_t = a * p_{t-1} + (1 - a) * s_t ** 2      # running power, a = exp(-1 / (tau_s * sfreq)), p_{-1} = power_init
    y_t = softmax(log(p_t) @ coef.T + intercept)

Tangent space + logistic regression (:class:`RiemannParams`)::

    v_t = clip(u_t @ projection, clip_sd * sqrt(diag(cov_init)))   # [n] (identity when projection is None)
    S_t = a * S_{t-1} + (1 - a) * outer(v_t, v_t)   # running covariance, S_{-1} = cov_init
    R_t = (1 - shrinkage) * S_t + shrinkage * trace(S_t) / n * I
    L_t = logm(ref_isqrt @ R_t @ ref_isqrt)     # tangent space at the reference point
    f_t = L_t[triu(n)] with off-diagonal entries * sqrt(2)   # pyriemann's upper-triangle order
    y_t = softmax(f_t @ coef.T + intercept)

``clip(z, b) = min(max(z, -b), b)`` per component: a component beyond ``clip_sd`` times its calibration RMS
(``power_init`` and ``cov_init`` are the calibration runs' mean power and covariance) counts as that bound, so
one artifact (an electrode pop, a railed input, a DC step through the band-pass) moves the running estimate by
a bounded amount and the decoder recovers within a few ``tau_s`` instead of ``log(artifact power) * tau_s``.

``coef``/``intercept`` have one row per output label (for two classes, e.g. ``[-w/2, w/2]``), so every
family emits class probabilities the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bci_stream.dsp.preprocess import PreprocessingConfig


@dataclass
class CspLdaParams:
    ch_names: list[str]
    sfreq: float
    preprocessing: PreprocessingConfig
    filters: np.ndarray  # [C, m]
    tau_s: float
    power_init: np.ndarray  # [m]
    coef: np.ndarray  # [K, m]
    intercept: np.ndarray  # [K]
    labels: list[str]
    clip_sd: float | None = None


@dataclass
class RiemannParams:
    ch_names: list[str]
    sfreq: float
    preprocessing: PreprocessingConfig
    projection: np.ndarray | None  # [C, n] or None
    tau_s: float
    shrinkage: float
    cov_init: np.ndarray  # [n, n]
    ref_isqrt: np.ndarray  # [n, n], C_ref^(-1/2)
    coef: np.ndarray  # [K, n (n + 1) / 2]
    intercept: np.ndarray  # [K]
    labels: list[str]
    clip_sd: float | None = None


def clip_entry(p: CspLdaParams | RiemannParams) -> dict[str, float]:
    """``{"clip_sd": value}`` for a card's architecture when ``p`` clips its components, else ``{}``."""
    return {} if p.clip_sd is None else {"clip_sd": float(p.clip_sd)}
