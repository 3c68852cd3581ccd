"""Fit the streaming classical decoders (CSP+LDA, tangent space + LR) on selected trials of prepared runs.

The training samples are the decoder's own causal features (the pieces of :mod:`.reference`), taken at
several times after each cue (``train_times``, seconds), with the running estimators running over each
whole run exactly as online; each sample is labelled with its cue's class.

* :func:`fit_csp_lda`, :func:`fit_riemann` (and :func:`fit`, either by config) →
  :class:`~.params.CspLdaParams` / :class:`~.params.RiemannParams`;
* :func:`riemann_mean`: the tangent-space reference point.

The configs are :mod:`.configs`; scoring by cross-validation is :mod:`.cv`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bci_stream.train.classical.configs import EVAL_TIMES, TRAIN_TIMES, Config, CspConfig, RiemannConfig
from bci_stream.train.classical.features import running_cov_at
from bci_stream.train.classical.params import CspLdaParams, RiemannParams
from bci_stream.train.classical.prepared import Prepared, Selection
from bci_stream.train.classical.reference import (
    TINY,
    clip_components,
    component_bounds,
    eigh_function,
    logm_spd,
    running_log_power,
    shrink,
    smoothing_factor,
    tangent_vectors,
)


def _sample_points(prep: Prepared, sel: Selection, times: Sequence[float]) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per run: (run, sample indices, class of each) for every trial of ``sel`` at every time in ``times``."""
    out = []
    for ri, tr in sel:
        run = prep.runs[ri]
        onsets, classes = run.trials.onsets[tr], run.trials.classes[tr]
        at = (onsets[:, None] + np.round(np.asarray(times) * prep.sfreq).astype(np.int64)[None, :]).ravel()
        cls = np.repeat(classes, len(times))
        ok = at < run.n_times
        out.append((ri, at[ok], cls[ok]))
    return out


def _segment_covs(u: np.ndarray, onsets: np.ndarray, window: tuple[float, float], sfreq: float) -> np.ndarray:
    """Trace-normalised covariances ``[N, C, C]`` of ``u[onset + w0 : onset + w1]`` per trial."""
    w0, w1 = (int(round(w * sfreq)) for w in window)
    covs = []
    for o in onsets:
        seg = u[o + w0:min(o + w1, len(u))]
        c = seg.T @ seg / max(len(seg), 1)
        covs.append(c / np.trace(c))
    return np.asarray(covs)


def _class_covs(prep: Prepared, u_runs: list[np.ndarray], sel: Selection, window: tuple[float, float],
                n_classes: int) -> list[np.ndarray]:
    covs, classes = [], []
    for ri, tr in sel:
        run = prep.runs[ri]
        covs.append(_segment_covs(u_runs[ri], run.trials.onsets[tr], window, prep.sfreq))
        classes.append(run.trials.classes[tr])
    c, y = np.concatenate(covs), np.concatenate(classes)
    return [c[y == k].mean(axis=0) for k in range(n_classes)]


# A filter whose output variance is below this share of the data's largest (per unit norm) sees no signal: a
# direction the data lack (CAR removes one; an average-referenced recording lacks it too).
NULL_VARIANCE = 1e-10


def _signal_mask(v: np.ndarray, class_covs: list[np.ndarray]) -> np.ndarray:
    """Which columns of ``v`` see signal: not in the data's null space (their log-power would be rounding noise,
    which float32 and float64 disagree on)."""
    mean = np.mean(class_covs, axis=0)
    top = float(np.linalg.eigvalsh(mean)[-1])
    var = np.einsum("ci,cd,di->i", v, mean, v) / np.einsum("ci,ci->i", v, v)
    return var > NULL_VARIANCE * top


def _signal_filters(v: np.ndarray, class_covs: list[np.ndarray]) -> np.ndarray:
    """The columns of ``v`` that see signal (:func:`_signal_mask`)."""
    return v[:, _signal_mask(v, class_covs)]


def _csp_filters(class_covs: list[np.ndarray], n: int, cov_shrinkage: float) -> np.ndarray:
    """CSP filters ``[C, m]``. Two classes: the ``n`` eigenvectors of eig(C0, C0 + C1) whose eigenvalues are furthest
    from 0.5, most discriminative first (so the two ends need not give n/2 each). More classes: one-vs-rest (each
    class against the mean covariance), taken round-robin, each class's best filter first, then each class's second...
    (within a round, the largest eigenvalue first), so every class gets n/K or one more. Filters in the data's null
    space are left out (m < n when fewer directions hold signal, as with CAR on 3 or 4 channels)."""
    from scipy.linalg import eigh

    # a tiny ridge on top keeps the eigenproblem defined for rank-deficient data (CAR removes one dimension)
    covs = [shrink(shrink(c, cov_shrinkage), 1e-6) for c in class_covs]
    n = min(n, covs[0].shape[0])
    if len(covs) == 2:
        w, v = eigh(covs[0], covs[0] + covs[1])
        order = np.argsort(np.abs(w - 0.5))[::-1]  # most discriminative first, from either end
        return _signal_filters(v[:, order], class_covs)[:, :n]
    total = np.mean(covs, axis=0)
    picks = []  # (round, -eigenvalue, filter): a class's r-th best filter is in round r
    for c in covs:
        w, v = eigh(c, total)
        order = np.argsort(w)[::-1]
        keep = _signal_mask(v[:, order], class_covs)
        picks += [(r, -float(value), f) for r, (value, f) in enumerate(zip(w[order][keep], v[:, order][:, keep].T))]
    picks.sort(key=lambda p: (p[0], p[1]))  # before: class by class, then cut at n (the last class got none)
    return np.stack([f for _, _, f in picks[:n]], axis=1)


def _lin_to_rows(coef: np.ndarray, intercept: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's binary (one row) or multi-class linear model → one row per class for a softmax."""
    coef, intercept = np.atleast_2d(coef), np.atleast_1d(intercept)
    if n_classes == 2 and coef.shape[0] == 1:
        return np.vstack([-coef[0] / 2, coef[0] / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    return coef.astype(np.float64), intercept.astype(np.float64)


def _power_init(s_runs: list[np.ndarray]) -> np.ndarray:
    return np.mean([np.mean(s * s, axis=0) for s in s_runs], axis=0)


def stats_rows(prep: Prepared, sel: Selection, ri: int, x: np.ndarray) -> np.ndarray:
    """The rows of run ``ri``'s ``x`` that a fit on ``sel`` takes its initial power or covariance (and so its clip
    bounds) from: all of them, but for the trials of that run a fold holds out (a trial-wise k-fold: one run, or runs
    too short of a class to leave one out), whose spans from the cue to the last scored time after it are left out,
    so no statistic of a fold's test trials goes into its decoder. Leave-one-run-out and the final fit select every
    trial of their runs: ``x`` itself."""
    run = prep.runs[ri]
    chosen = np.zeros(len(run.trials), dtype=bool)
    for r, tr in sel:
        if r == ri:
            chosen[tr] = True
    if chosen.all():
        return x
    keep = np.ones(len(x), dtype=bool)
    span = int(round(max(EVAL_TIMES) * prep.sfreq)) + 1
    for onset in run.trials.onsets[~chosen]:
        keep[onset:onset + span] = False
    return x[keep]


def fit_csp_lda(prep: Prepared, sel: Selection, cfg: CspConfig) -> CspLdaParams:
    """Fit CSP + LDA on the trials ``sel`` (run index, trial indices) of ``prep``."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    names, pre, u_runs = prep.filtered(cfg)
    k = len(prep.labels)
    filters = _csp_filters(_class_covs(prep, u_runs, sel, cfg.csp_window, k), cfg.n_components, cfg.cov_shrinkage)
    train_runs = sorted({ri for ri, _ in sel})
    s_runs = {ri: u_runs[ri] @ filters for ri in train_runs}
    power_init = _power_init([stats_rows(prep, sel, ri, s) for ri, s in s_runs.items()])
    bounds = component_bounds(cfg.clip_sd, power_init)
    a = smoothing_factor(cfg.tau_s, prep.sfreq)
    feats, ys = [], []
    for ri, at, cls in _sample_points(prep, sel, TRAIN_TIMES[cfg.train_times]):
        feats.append(running_log_power(clip_components(s_runs[ri], bounds), a, power_init)[at])
        ys.append(cls)
    x, y = np.concatenate(feats), np.concatenate(ys)
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(x, y)
    coef, intercept = _lin_to_rows(lda.coef_, lda.intercept_, k)
    return CspLdaParams(ch_names=names, sfreq=prep.sfreq, preprocessing=pre, filters=filters, tau_s=cfg.tau_s,
                        power_init=power_init, coef=coef, intercept=intercept, labels=list(prep.labels),
                        clip_sd=cfg.clip_sd)


def expm_sym(m: np.ndarray) -> np.ndarray:
    """Matrix exponential of symmetric ``m [..., n, n]``."""
    return eigh_function(m, np.exp)


def powm_spd(m: np.ndarray, p: float) -> np.ndarray:
    """``m ** p`` of SPD ``m [..., n, n]`` (eigenvalues floored at :data:`~.reference.TINY`)."""
    return eigh_function(m, lambda w: np.maximum(w, TINY) ** p)


def riemann_mean(covs: np.ndarray, kind: str = "riemann", n_iter: int = 50, tol: float = 1e-8) -> np.ndarray:
    """Log-Euclidean or Riemannian (affine-invariant, fixed-point iteration) mean of SPD ``covs[N, n, n]``."""
    m = expm_sym(logm_spd(covs).mean(axis=0))
    if kind == "logeuclid":
        return m
    if kind != "riemann":
        raise ValueError(f"reference must be 'riemann' or 'logeuclid', got {kind!r}")
    for _ in range(n_iter):
        m_sqrt, m_isqrt = powm_spd(m, 0.5), powm_spd(m, -0.5)
        t = logm_spd(m_isqrt @ covs @ m_isqrt).mean(axis=0)
        m = m_sqrt @ expm_sym(t) @ m_sqrt
        if np.linalg.norm(t) < tol:
            break
    return m


def _projection(prep: Prepared, u_runs: list[np.ndarray], sel: Selection, cfg: RiemannConfig) -> np.ndarray | None:
    n_chans = u_runs[0].shape[1]
    if n_chans <= cfg.n_dims:
        return None
    class_covs = _class_covs(prep, u_runs, sel, cfg.proj_window, len(prep.labels))
    if cfg.projection == "csp":
        return _csp_filters(class_covs, cfg.n_dims, 0.05)
    if cfg.projection == "pca":
        w, v = np.linalg.eigh(np.mean(class_covs, axis=0))
        return v[:, np.argsort(w)[::-1][:cfg.n_dims]]
    raise ValueError(f"projection must be 'csp' or 'pca', got {cfg.projection!r}")


def fit_riemann(prep: Prepared, sel: Selection, cfg: RiemannConfig) -> RiemannParams:
    """Fit tangent space + logistic regression on the trials ``sel`` of ``prep``."""
    from sklearn.linear_model import LogisticRegression

    names, pre, u_runs = prep.filtered(cfg)
    k = len(prep.labels)
    proj = _projection(prep, u_runs, sel, cfg)
    train_runs = sorted({ri for ri, _ in sel})
    v_runs = {ri: u_runs[ri] if proj is None else u_runs[ri] @ proj for ri in train_runs}
    cov_init = np.mean([v.T @ v / len(v) for v in (stats_rows(prep, sel, ri, x) for ri, x in v_runs.items())],
                       axis=0)
    bounds = component_bounds(cfg.clip_sd, np.diag(cov_init))
    a = smoothing_factor(cfg.tau_s, prep.sfreq)
    covs, ys = [], []
    for ri, at, cls in _sample_points(prep, sel, TRAIN_TIMES[cfg.train_times]):
        covs.append(running_cov_at(clip_components(v_runs[ri], bounds), a, cov_init, at))
        ys.append(cls)
    s, y = np.concatenate(covs), np.concatenate(ys)
    ref = riemann_mean(shrink(s, cfg.shrinkage), cfg.reference)
    ref_isqrt = powm_spd(ref, -0.5)
    x = tangent_vectors(s, cfg.shrinkage, ref_isqrt)
    lr = LogisticRegression(C=cfg.lr_c, max_iter=2000).fit(x, y)
    coef, intercept = _lin_to_rows(lr.coef_, lr.intercept_, k)
    return RiemannParams(ch_names=names, sfreq=prep.sfreq, preprocessing=pre, projection=proj, tau_s=cfg.tau_s,
                         shrinkage=cfg.shrinkage, cov_init=cov_init, ref_isqrt=ref_isqrt, coef=coef,
                         intercept=intercept, labels=list(prep.labels), clip_sd=cfg.clip_sd)


def fit(prep: Prepared, sel: Selection, cfg: Config) -> CspLdaParams | RiemannParams:
    """Fit the family of ``cfg``."""
    if getattr(cfg, "family", None) == "csp_riemann":  # both front-ends of the combined decoder (.combined)
        from bci_stream.train.classical.combined import fit_combined

        return fit_combined(prep, sel, cfg)
    if getattr(cfg, "family", None) == "ensemble":  # every member of the averaged decoder (.ensemble)
        from bci_stream.train.classical.ensemble import fit_ensemble

        return fit_ensemble(prep, sel, cfg)
    return fit_csp_lda(prep, sel, cfg) if isinstance(cfg, CspConfig) else fit_riemann(prep, sel, cfg)


__all__ = ["fit", "fit_csp_lda", "fit_riemann", "riemann_mean"]
