"""The residual recurrent decoder on top of a fitted CSP+LDA: parameters and offline numpy reference.

Per sample t (the CSP+LDA part is :mod:`.params`, frozen)::

    z_t = log p_t                                   # CSP running log power [m], as the classical graph
    l_t = z_t @ coef.T + intercept                  # the classical logit [K]
    v_t = z_t (inputs "log_power") or l_t (inputs "logits")
    h_t = GRU(h_{t-1}, (v_t - in_mean) / in_std)    # one layer, torch's gate layout, h_{-1} = 0
    y_t = softmax(l_t + h_t @ out_weight.T + out_bias)

With ``out_weight = 0`` and ``out_bias = 0`` (how training starts) ``y_t`` is the CSP+LDA output exactly.
The GRU is torch's (``linear_before_reset``): gates ``r, z, n`` stacked in that order in ``w_ih [3H, m]``,
``w_hh [3H, H]``, ``b_ih``, ``b_hh``::

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr);  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h

This module needs numpy only: the step graph (:mod:`.residual_graph`) is checked against
:func:`residual_reference`; the torch model that trains the parameters is :mod:`.residual`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bci_stream.train.classical.params import CspLdaParams
from bci_stream.train.classical.reference import (
    check_csp_lda,
    components,
    csp_log_power,
    preprocess64,
    running_log_power,
    smoothing_factor,
    softmax,
)

FAMILY = "csp_gru"
INPUTS = ("log_power", "logits")


@dataclass
class ResidualParams:
    """A fitted residual GRU on top of ``csp`` (shapes: m components, H hidden units, K classes)."""

    csp: CspLdaParams
    in_mean: np.ndarray  # [n_in]: m (log power) or K (logits)
    in_std: np.ndarray  # [n_in]
    w_ih: np.ndarray  # [3H, n_in], gates r, z, n
    w_hh: np.ndarray  # [3H, H]
    b_ih: np.ndarray  # [3H]
    b_hh: np.ndarray  # [3H]
    out_weight: np.ndarray  # [K, H]
    out_bias: np.ndarray  # [K]
    inputs: str = "log_power"  # what the GRU reads: "log_power" (z_t) or "logits" (l_t)

    @property
    def hidden_size(self) -> int:
        return int(np.asarray(self.w_hh).shape[1])

    @property
    def labels(self) -> list[str]:
        return list(self.csp.labels)


def check_residual(p: ResidualParams) -> None:
    """Validate shapes and values (errors name the parameter, the rule and the bad value)."""
    check_csp_lda(p.csp)
    m = np.asarray(p.csp.filters).shape[1]
    k = len(p.csp.labels)
    hh = np.asarray(p.w_hh)
    if hh.ndim != 2 or hh.shape[0] != 3 * hh.shape[1] or hh.shape[1] < 1:
        raise ValueError(f"w_hh must have shape (3H, H) with H >= 1, got {hh.shape}")
    h = hh.shape[1]
    if p.inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {INPUTS}, got {p.inputs!r}")
    n_in = m if p.inputs == "log_power" else k
    want = {"in_mean": (n_in,), "in_std": (n_in,), "w_ih": (3 * h, n_in), "b_ih": (3 * h,), "b_hh": (3 * h,),
            "out_weight": (k, h), "out_bias": (k,)}
    for name, shape in want.items():
        arr = np.asarray(getattr(p, name))
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite, got NaN or inf")
    if not (np.asarray(p.in_std) > 0).all():
        raise ValueError(f"in_std must be > 0 for every input, got {np.asarray(p.in_std).tolist()}")


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * v))


def gru_sequence(p: ResidualParams, zs: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
    """Hidden states ``[T, H]`` (float64) of the GRU over standardised features ``zs [T, m]`` from ``h0``."""
    h_size = p.hidden_size
    w_hh = np.asarray(p.w_hh, dtype=np.float64)
    b_hh = np.asarray(p.b_hh, dtype=np.float64)
    gi = zs @ np.asarray(p.w_ih, dtype=np.float64).T + np.asarray(p.b_ih, dtype=np.float64)  # [T, 3H]
    out = np.empty((len(zs), h_size))
    h = np.zeros(h_size) if h0 is None else np.asarray(h0, dtype=np.float64).reshape(h_size)
    for t in range(len(zs)):
        gh = w_hh @ h + b_hh
        r = _sigmoid(gi[t, :h_size] + gh[:h_size])
        z = _sigmoid(gi[t, h_size:2 * h_size] + gh[h_size:2 * h_size])
        n = np.tanh(gi[t, 2 * h_size:] + r * gh[2 * h_size:])
        h = (1.0 - z) * n + z * h
        out[t] = h
    return out


def residual_logits_from_log_power(p: ResidualParams, z: np.ndarray) -> np.ndarray:
    """Logits ``l_t + r_t`` ``[T, K]`` of the log power ``z [T, m]`` of a whole run (from its first sample)."""
    classical = z @ np.asarray(p.csp.coef, dtype=np.float64).T + np.asarray(p.csp.intercept, dtype=np.float64)
    v = z if p.inputs == "log_power" else classical
    hidden = gru_sequence(p, (v - p.in_mean) / p.in_std)
    return classical + hidden @ np.asarray(p.out_weight, dtype=np.float64).T + np.asarray(p.out_bias, np.float64)


def residual_reference(p: ResidualParams, x: np.ndarray) -> np.ndarray:
    """Class probabilities ``y [T, K]`` (float64) of the residual decoder for every sample of raw ``x [T, C]``."""
    check_residual(p)
    return softmax(residual_logits_from_log_power(p, csp_log_power(p.csp, x)))


def residual_outputs_from_preprocessed(p: ResidualParams, u: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Class probabilities ``[len(at), K]`` at samples ``at`` of a preprocessed run ``u [T, C]`` (whole run)."""
    at = np.asarray(at, dtype=np.int64)
    s = components(p.csp, u[:int(at.max()) + 1])
    z = running_log_power(s, smoothing_factor(p.csp.tau_s, p.csp.sfreq), p.csp.power_init)
    return softmax(residual_logits_from_log_power(p, z)[at])


def residual_outputs_at(p: ResidualParams, x: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Class probabilities ``[len(at), K]`` on raw ``x [T, C]`` at samples ``at``."""
    return residual_outputs_from_preprocessed(p, preprocess64(p.csp, x), at)


__all__ = ["FAMILY", "INPUTS", "ResidualParams", "check_residual", "gru_sequence", "residual_logits_from_log_power",
           "residual_outputs_at", "residual_outputs_from_preprocessed", "residual_reference"]
