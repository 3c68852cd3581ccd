"""Unsupervised causal adaptation of the streaming classical decoders: parameters, numpy reference, fitting.

A decoder calibrated on earlier runs meets a later session whose covariances have drifted. The remedies of
the field, made causal and label-free, with their running mean carried per sample (estimator state, like
``power``/``cov``), ``b = exp(-1 / (tau_a * sfreq))``, ``tau_a`` the adaptation time constant (seconds):

``feature`` (either family; unsupervised mean tracking, Vidaurre et al. 2011; for the tangent space the
log-Euclidean form of re-centring)::

    f_t   = the family's features (CSP log power; tangent vector at the training reference point)
    m_t   = b m_{t-1} + (1 - b) f_t                 # m_{-1} = init: the training runs' mean feature
    y_t   = softmax((f_t - m_t) @ coef.T + intercept)

``power`` (CSP+LDA; each component's power divided by its own running long-term power)::

    q_t   = b q_{-1} + (1 - b) s_t ** 2             # q_{-1} = init = power_init
    y_t   = softmax((log p_t - log q_t) @ coef.T + intercept)

``recentre`` (tangent space; affine-invariant Riemannian re-centring, Zanini et al. 2018, made causal)::

    L_t   = b L_{t-1} + (1 - b) v_t v_t^T           # L_{-1} = init = cov_init
    G_t   = shrink(L_t)                             # the session's running mean covariance: the reference point
    f_t   = upper(logm(G_t^(-1/2) R_t G_t^(-1/2)))  # R_t the shrunk running covariance (tau_s) of params.py
    y_t   = softmax(f_t @ coef.T + intercept)

Fitting trains the read-out on adapted features of the training runs, each run adapted by its own running
mean from ``init`` exactly as it will be live (no labels are used by the adaptation).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from bci_stream.train.classical.configs import TRAIN_TIMES, Config, CspConfig, config_label
from bci_stream.train.classical.features import running_cov_at
from bci_stream.train.classical.params import CspLdaParams, RiemannParams
from bci_stream.train.classical.prepared import Prepared, Selection
from bci_stream.train.classical.reference import (
    CHUNK,
    TINY,
    components,
    covariance_from_entries,
    eigh_function,
    logm_spd,
    readout,
    running_covariance_entries,
    running_log_power,
    running_mean,
    shrink,
    smoothing_factor,
    tangent_vectors,
    upper_vector,
)

Method = Literal["feature", "power", "recentre"]
METHODS: dict[str, tuple[str, ...]] = {"csp_lda": ("feature", "power"), "riemann": ("feature", "recentre")}


@dataclass(frozen=True)
class AdaptConfig:
    """A family's config (``base``) plus its adaptation ``method`` and time constant ``tau_a`` (seconds)."""

    base: Config
    method: Method
    tau_a: float

    def __post_init__(self) -> None:
        fam = self.base.family
        if self.method not in METHODS.get(fam, ()):
            raise ValueError(f"method must be one of {METHODS.get(fam)} for family {fam!r}, got {self.method!r}")
        if not (math.isfinite(self.tau_a) and self.tau_a > 0):
            raise ValueError(f"tau_a must be finite and > 0 seconds, got {self.tau_a}")

    @property
    def family(self) -> str:
        return self.base.family

    def __getattr__(self, name: str):  # channels, band, car, filter_order... of the base (Prepared.filtered)
        if name.startswith("__") or name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    def label(self) -> str:
        return f"{config_label(self.base)} adapt={self.method} tau_a={self.tau_a:g}"


@dataclass
class AdaptParams:
    """Fitted ``base`` parameters (its ``coef``/``intercept`` trained on adapted features) and the adaptation."""

    base: CspLdaParams | RiemannParams
    method: Method
    tau_a: float
    init: np.ndarray  # feature: [F]; power: [m]; recentre: [n, n]
    extra: dict = field(default_factory=dict)

    @property
    def ch_names(self) -> list[str]:
        return self.base.ch_names

    @property
    def sfreq(self) -> float:
        return self.base.sfreq


# -- the numpy reference ---------------------------------------------------------------------------------


#: Memo of the unadapted fits and full-run tangent vectors (a study fits several ``tau_a`` on the same folds).
_MEMO: OrderedDict = OrderedDict()
MEMO_SIZE = 24


def _memo(key: tuple, keep: tuple, make):
    """``make()`` memoised under ``key`` (ids of the objects ``keep``, held alive with the value)."""
    if key in _MEMO:
        _MEMO.move_to_end(key)
        return _MEMO[key][1]
    value = make()
    _MEMO[key] = (keep, value)
    while len(_MEMO) > MEMO_SIZE:
        _MEMO.popitem(last=False)
    return value


def _all_tangent(u: np.ndarray, p: RiemannParams) -> np.ndarray:
    """Tangent vectors ``[T, F]`` at ``p.ref_isqrt`` of every sample of one preprocessed run ``u [T, C]``."""
    return _memo(("tangent", id(p), id(u)), (p, u), lambda: _all_tangent_now(u, p))


def _all_tangent_now(u: np.ndarray, p: RiemannParams) -> np.ndarray:
    v = components(p, u)
    a = smoothing_factor(p.tau_s, p.sfreq)
    n = v.shape[1]
    out = np.empty((len(v), n * (n + 1) // 2))
    for i, entries in running_covariance_entries(v, a, p.cov_init):
        out[i:i + len(entries)] = tangent_vectors(covariance_from_entries(entries, p.cov_init), p.shrinkage,
                                                  p.ref_isqrt)
    return out


def recentred_tangent(s: np.ndarray, g: np.ndarray, shrinkage: float) -> np.ndarray:
    """``upper(logm(G^-1/2 R G^-1/2))`` of running covariances ``s`` and running means ``g`` ``[..., n, n]``
    (both shrunk by ``shrinkage`` first)."""
    g_isqrt = eigh_function(shrink(g, shrinkage), lambda w: np.maximum(w, TINY) ** -0.5)
    return upper_vector(logm_spd(g_isqrt @ shrink(s, shrinkage) @ g_isqrt))


def adapted_features(params: AdaptParams, u: np.ndarray, upto: int | None = None) -> np.ndarray:
    """Adapted features ``[T', F]`` of every sample of one preprocessed run ``u [T, C]`` (``T' = upto or T``)."""
    p = params.base
    a = smoothing_factor(p.tau_s, p.sfreq)
    b = smoothing_factor(params.tau_a, p.sfreq)
    if isinstance(p, RiemannParams) and params.method == "feature":
        f = _all_tangent(u, params.extra.get("geometry", p))[:upto]  # the same vectors whatever the read-out
        return f - running_mean(b, f, params.init)
    u = u[:upto]
    if isinstance(p, CspLdaParams):
        s = components(p, u)
        logp = running_log_power(s, a, p.power_init)
        if params.method == "power":
            return logp - running_log_power(s, b, params.init)
        return logp - running_mean(b, logp, params.init)
    v = components(p, u)
    n = v.shape[1]
    out = np.empty((len(v), n * (n + 1) // 2))
    for start in range(0, len(v), CHUNK):  # both running covariances, chunk by chunk (bounded memory)
        at = np.arange(start, min(start + CHUNK, len(v)))
        out[at] = recentred_tangent(running_cov_at(v, a, p.cov_init, at), running_cov_at(v, b, params.init, at),
                                    p.shrinkage)
    return out


def adapt_reference_preprocessed(params: AdaptParams, u: np.ndarray) -> np.ndarray:
    """Class probabilities ``[T, K]`` of every sample of a preprocessed run ``u [T, C]``."""
    return readout(params.base, adapted_features(params, u))


def adapt_reference(params: AdaptParams, x: np.ndarray) -> np.ndarray:
    """Class probabilities ``[T, K]`` (float64) of the adaptive decoder for every sample of raw ``x [T, C]``."""
    from bci_stream.train.classical.reference import preprocess64

    return adapt_reference_preprocessed(params, preprocess64(params.base, x))


def adapt_outputs_at(params: AdaptParams, u: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Class probabilities ``[len(at), K]`` at samples ``at`` of a preprocessed run ``u``."""
    at = np.asarray(at, dtype=np.int64)
    p = params.base
    if isinstance(p, RiemannParams) and params.method == "recentre":  # only the asked samples are needed
        v = components(p, u)
        a, b = smoothing_factor(p.tau_s, p.sfreq), smoothing_factor(params.tau_a, p.sfreq)
        f = recentred_tangent(running_cov_at(v, a, p.cov_init, at), running_cov_at(v, b, params.init, at),
                              p.shrinkage)
        return readout(p, f)
    return readout(p, adapted_features(params, u, int(at.max()) + 1)[at])


# -- fitting ---------------------------------------------------------------------------------------------


def _points(prep: Prepared, sel: Selection, cfg: Config):
    from bci_stream.train.classical.fit import _sample_points

    return _sample_points(prep, sel, TRAIN_TIMES[cfg.train_times])


def fit_adapt(prep: Prepared, sel: Selection, acfg: AdaptConfig) -> AdaptParams:
    """Fit the family of ``acfg.base`` on the trials ``sel`` with its read-out trained on adapted features."""
    from bci_stream.train.classical.fit import _lin_to_rows, fit_csp_lda, fit_riemann

    cfg = acfg.base
    _, _, u_runs = prep.filtered(cfg)
    k = len(prep.labels)
    train_runs = sorted({ri for ri, _ in sel})
    points = _points(prep, sel, cfg)
    sel_key = tuple((ri, tuple(np.asarray(tr).tolist())) for ri, tr in sel)
    base = _memo(("fit", id(prep), config_label(cfg), sel_key), (prep,),
                 lambda: (fit_csp_lda if isinstance(cfg, CspConfig) else fit_riemann)(prep, sel, cfg))
    if isinstance(cfg, CspConfig):
        if acfg.method == "power":
            init = base.power_init.copy()
        else:  # the training runs' mean log power, over every sample
            a = smoothing_factor(cfg.tau_s, prep.sfreq)
            init = np.mean([running_log_power(components(base, u_runs[ri]), a, base.power_init).mean(axis=0)
                            for ri in train_runs], axis=0)
    else:
        if acfg.method == "recentre":
            init = base.cov_init.copy()
        else:  # the training runs' mean tangent vector, over every sample
            init = np.mean([_all_tangent(u_runs[ri], base).mean(axis=0) for ri in train_runs], axis=0)
    params = AdaptParams(base=base, method=acfg.method, tau_a=acfg.tau_a, init=init, extra={"geometry": base})
    feats, ys = [], []
    for ri, at, cls in points:
        if isinstance(cfg, CspConfig) or acfg.method == "feature":
            feats.append(adapted_features(params, u_runs[ri], int(at.max()) + 1)[at])
        else:
            v = components(base, u_runs[ri])
            a, b = smoothing_factor(cfg.tau_s, prep.sfreq), smoothing_factor(acfg.tau_a, prep.sfreq)
            feats.append(recentred_tangent(running_cov_at(v, a, base.cov_init, at), running_cov_at(v, b, init, at),
                                           base.shrinkage))
        ys.append(cls)
    x, y = np.concatenate(feats), np.concatenate(ys)
    if isinstance(cfg, CspConfig):
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(x, y)
    else:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=cfg.lr_c, max_iter=2000).fit(x, y)
    coef, intercept = _lin_to_rows(model.coef_, model.intercept_, k)
    params.base = replace(base, coef=coef, intercept=intercept)
    return params


__all__ = ["METHODS", "AdaptConfig", "AdaptParams", "adapt_outputs_at", "adapt_reference",
           "adapt_reference_preprocessed", "adapted_features", "fit_adapt", "recentred_tangent"]
