"""Fit the streaming classical decoders (CSP+LDA, tangent space + LR) and score them by cross-validation.

The training samples are the decoder's own causal features (see :mod:`.features`), taken at several
times after each cue (``train_times``, seconds), with the running estimators running over each whole run
exactly as online; each sample is labelled with its cue's class. Scoring is trial accuracy: the decision
for a trial at ``t`` s after its cue is the argmax of the streaming output at sample ``onset + round(t sfreq)``.

Public pieces:

* :class:`Run` (one recording as the fitter needs it) and :class:`Prepared` (runs + a cache of their
  preprocessed signals, keyed by channels, band and CAR);
* :class:`CspConfig` / :class:`RiemannConfig`: the modelling choices; their defaults come from the
  cross-subject study (:mod:`.study`, see ``DEFAULT_*`` below);
* :func:`fit_csp_lda`, :func:`fit_riemann` → :class:`~.params.CspLdaParams` / :class:`~.params.RiemannParams`;
* :func:`make_folds` (leave-one-run-out, or trial-wise k-fold for a single run) and :func:`cross_validate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import numpy as np

from bci_stream.data.channels import match_channels
from bci_stream.signal.preprocess import PreprocessingConfig
from bci_stream.train.classical.features import (
    Trials, decay, logm_spd, powm_spd, expm_sym, preprocess, running_cov_at, running_power,
    sensorimotor_channels, shrink, softmax, tangent_vectors,
)
from bci_stream.train.classical.params import CspLdaParams, RiemannParams

ChannelSpec = Literal["sensorimotor", "all"] | tuple[str, ...]
EVAL_TIMES: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0)
DECISION_TIME = 2.0

# Training-time schemes (seconds after cue onset at which features become training samples).
TRAIN_TIMES: dict[str, tuple[float, ...]] = {
    "at2": (2.0,),
    "1-3s": tuple(np.round(np.arange(1.0, 3.001, 0.25), 3)),
    "0.5-4s": tuple(np.round(np.arange(0.5, 4.001, 0.25), 3)),
}


@dataclass
class Run:
    """One calibration recording: raw data ``[T, C]`` (µV, time-major), its channels and its cue trials."""

    data: np.ndarray
    sfreq: float
    ch_names: list[str]
    trials: Trials
    source: str = ""

    @property
    def n_times(self) -> int:
        return int(self.data.shape[0])


@dataclass(frozen=True)
class CspConfig:
    """Modelling choices of CSP + LDA.

    Attributes
    ----------
    band
        Causal Butterworth band-pass, Hz.
    car
        Common average reference over the picked channels.
    channels
        ``"sensorimotor"`` (10-10 FC/C/CP rows when present, else all), ``"all"``, or explicit names.
    tau_s
        Time constant of the running power, seconds.
    n_components
        CSP filters (half from each end of the spectrum for two classes).
    cov_shrinkage
        Shrinkage of the class-mean covariances towards ``trace/n I`` before the CSP eigenproblem.
    csp_window
        Seconds after each cue of the band-passed segment the CSP covariances are computed from.
    train_times
        Name of a :data:`TRAIN_TIMES` scheme.
    """

    band: tuple[float, float] = (8.0, 30.0)
    car: bool = False
    channels: ChannelSpec = "sensorimotor"
    tau_s: float = 1.0
    n_components: int = 6
    cov_shrinkage: float = 0.1
    csp_window: tuple[float, float] = (0.5, 2.5)
    train_times: str = "1-3s"
    filter_order: int = 4

    family = "csp_lda"


@dataclass(frozen=True)
class RiemannConfig:
    """Modelling choices of tangent space + logistic regression.

    Attributes
    ----------
    band, car, channels, tau_s, train_times, filter_order
        As :class:`CspConfig` (``tau_s`` is the running covariance's time constant).
    shrinkage
        ``R_t = (1 - shrinkage) S_t + shrinkage trace(S_t)/n I`` before the tangent space.
    n_dims
        Project to this many dimensions when there are more channels (ONNX cost grows with n³).
    projection
        ``"csp"`` (generalised eigenvectors of the class covariances, half from each end) or ``"pca"``
        (top eigenvectors of the mean covariance) — used only when channels > ``n_dims``.
    reference
        ``"riemann"`` (Riemannian mean) or ``"logeuclid"`` mean of the training running covariances.
    lr_c
        Inverse L2 regularisation of the logistic regression.
    proj_window
        Seconds after each cue of the band-passed segment the projection is fitted on.
    """

    band: tuple[float, float] = (8.0, 30.0)
    car: bool = False
    channels: ChannelSpec = "sensorimotor"
    tau_s: float = 1.0
    shrinkage: float = 0.05
    n_dims: int = 16
    projection: Literal["csp", "pca"] = "csp"
    reference: Literal["riemann", "logeuclid"] = "riemann"
    lr_c: float = 1.0
    proj_window: tuple[float, float] = (0.5, 2.5)
    train_times: str = "1-3s"
    filter_order: int = 4

    family = "riemann"


Config = CspConfig | RiemannConfig

# Defaults from the cross-subject study (`python -m bci_stream.train.classical.study --out DIR`, run on the
# calibration runs of S001/S002/S004/S005 only): the two-stage selection on all four subjects (mean LORO
# trial accuracy at 2 s: CSP+LDA 0.783 = S001 1.000, S002 0.900, S004 0.650, S005 0.583; Riemann 0.815 =
# S001 0.978, S002 0.867, S004 0.767, S005 0.650). Leave-one-subject-out, the same selection scores 0.694
# (CSP+LDA) and 0.669 (Riemann) on the held-out subject: the top configs differ by a few trials, so these
# are sensible defaults, not subject-optimal ones; `calibrate` therefore also tries the alternatives below.
DEFAULT_CSP = CspConfig(band=(8.0, 30.0), car=False, channels="all", tau_s=0.5, n_components=8, cov_shrinkage=0.0,
                        train_times="0.5-4s")
DEFAULT_RIEMANN = RiemannConfig(band=(5.0, 35.0), car=False, channels="sensorimotor", tau_s=1.0, shrinkage=0.01,
                                n_dims=16, projection="csp", reference="riemann", lr_c=0.1, train_times="1-3s")
# The per-subject alternatives `bci-stream calibrate` tries besides the defaults: for channels, band and tau_s,
# the study's best other value with everything else at the stage-1 winner ("alternatives" in study.json).
CALIBRATE_ALTERNATIVES: dict[str, dict] = {
    "csp_lda": {"channels": "sensorimotor", "band": (5.0, 35.0), "tau_s": 1.0},
    "riemann": {"channels": "all", "band": (8.0, 30.0), "tau_s": 0.5},
}


def config_dict(cfg: Config) -> dict:
    """A JSON-friendly dict of a config, with its family."""
    d = asdict(cfg)
    d["family"] = cfg.family
    d["channels"] = cfg.channels if isinstance(cfg.channels, str) else list(cfg.channels)
    return d


def config_label(cfg: Config) -> str:
    """A short one-line description, e.g. ``csp_lda band=8-30 car=0 ch=sensorimotor tau=1 m=6 ...``."""
    ch = cfg.channels if isinstance(cfg.channels, str) else f"{len(cfg.channels)}named"
    base = f"{cfg.family} band={cfg.band[0]:g}-{cfg.band[1]:g} car={int(cfg.car)} ch={ch} tau={cfg.tau_s:g}"
    if isinstance(cfg, CspConfig):
        return base + f" m={cfg.n_components} covshr={cfg.cov_shrinkage:g} tt={cfg.train_times}"
    return (base + f" shr={cfg.shrinkage:g} n={cfg.n_dims}{cfg.projection} ref={cfg.reference} C={cfg.lr_c:g}"
            f" tt={cfg.train_times}")


# --- data with a cache of preprocessed signals -----------------------------------------------------------


class Prepared:
    """Runs of one subject (same channels, same sfreq, same classes) and a cache of their preprocessed data."""

    def __init__(self, runs: Sequence[Run], labels: Sequence[str]) -> None:
        if not runs:
            raise ValueError("runs must hold at least one Run, got none")
        self.runs = list(runs)
        self.labels = list(labels)
        self.sfreq = runs[0].sfreq
        self.ch_names = list(runs[0].ch_names)
        self._cache: dict[tuple, list[np.ndarray]] = {}

    def channel_names(self, spec: ChannelSpec) -> list[str]:
        """The channels ``spec`` picks, in file spelling and file order (explicit names: in given order)."""
        if spec == "all":
            return list(self.ch_names)
        if spec == "sensorimotor":
            return sensorimotor_channels(self.ch_names) or list(self.ch_names)
        idx, missing, ambiguous = match_channels(self.ch_names, list(spec))
        if missing or ambiguous:
            raise ValueError(f"channels {missing or list(ambiguous)} are not (unambiguously) in the recordings")
        return [self.ch_names[i] for i in idx]

    def preprocessing(self, cfg: Config) -> PreprocessingConfig:
        return PreprocessingConfig(bandpass=tuple(cfg.band), filter_order=cfg.filter_order, car=cfg.car)

    def filtered(self, cfg: Config) -> tuple[list[str], PreprocessingConfig, list[np.ndarray]]:
        """``(ch_names, preprocessing, [u_run [T, C'] float64])`` for the config's channels/band/CAR."""
        names = self.channel_names(cfg.channels)
        pre = self.preprocessing(cfg)
        key = (tuple(names), tuple(cfg.band), cfg.car, cfg.filter_order)
        if key not in self._cache:
            idx = [self.ch_names.index(n) for n in names]
            self._cache[key] = [preprocess(r.data[:, idx], self.sfreq, pre) for r in self.runs]
        return names, pre, self._cache[key]

    def clear(self) -> None:
        self._cache.clear()


# A selection of trials: (run index, trial indices into that run's Trials).
Selection = list[tuple[int, np.ndarray]]


def all_trials(prep: Prepared, run_ids: Sequence[int]) -> Selection:
    return [(i, np.arange(len(prep.runs[i].trials))) for i in run_ids]


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


def _csp_filters(class_covs: list[np.ndarray], n: int, cov_shrinkage: float) -> np.ndarray:
    """CSP filters ``[C, n]``: two classes → n/2 from each end of eig(C0, C0 + C1); more → one-vs-rest."""
    from scipy.linalg import eigh

    # a tiny ridge on top keeps the eigenproblem defined for rank-deficient data (CAR removes one dimension)
    covs = [shrink(shrink(c, cov_shrinkage), 1e-6) for c in class_covs]
    n = min(n, covs[0].shape[0])
    if len(covs) == 2:
        w, v = eigh(covs[0], covs[0] + covs[1])
        order = np.argsort(np.abs(w - 0.5))[::-1]  # most discriminative first, alternating ends
        return v[:, order[:n]]
    total = np.mean(covs, axis=0)
    per = int(np.ceil(n / len(covs)))
    picks = []
    for c in covs:
        w, v = eigh(c, total)
        picks.append(v[:, np.argsort(w)[::-1][:per]])
    return np.concatenate(picks, axis=1)[:, :n]


def _lin_to_rows(coef: np.ndarray, intercept: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's binary (one row) or multi-class linear model → one row per class for a softmax."""
    coef, intercept = np.atleast_2d(coef), np.atleast_1d(intercept)
    if n_classes == 2 and coef.shape[0] == 1:
        return np.vstack([-coef[0] / 2, coef[0] / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    return coef.astype(np.float64), intercept.astype(np.float64)


def _power_init(s_runs: list[np.ndarray]) -> np.ndarray:
    return np.mean([np.mean(s * s, axis=0) for s in s_runs], axis=0)


def fit_csp_lda(prep: Prepared, sel: Selection, cfg: CspConfig) -> CspLdaParams:
    """Fit CSP + LDA on the trials ``sel`` (run index, trial indices) of ``prep``."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    names, pre, u_runs = prep.filtered(cfg)
    k = len(prep.labels)
    filters = _csp_filters(_class_covs(prep, u_runs, sel, cfg.csp_window, k), cfg.n_components, cfg.cov_shrinkage)
    train_runs = sorted({ri for ri, _ in sel})
    s_runs = {ri: u_runs[ri] @ filters for ri in train_runs}
    power_init = _power_init(list(s_runs.values()))
    a = decay(cfg.tau_s, prep.sfreq)
    feats, ys = [], []
    for ri, at, cls in _sample_points(prep, sel, TRAIN_TIMES[cfg.train_times]):
        feats.append(np.log(running_power(s_runs[ri], a, power_init)[at]))
        ys.append(cls)
    x, y = np.concatenate(feats), np.concatenate(ys)
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(x, y)
    coef, intercept = _lin_to_rows(lda.coef_, lda.intercept_, k)
    return CspLdaParams(ch_names=names, sfreq=prep.sfreq, preprocessing=pre, filters=filters, tau_s=cfg.tau_s,
                        power_init=power_init, coef=coef, intercept=intercept, labels=list(prep.labels))


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
    cov_init = np.mean([v.T @ v / len(v) for v in v_runs.values()], axis=0)
    a = decay(cfg.tau_s, prep.sfreq)
    covs, ys = [], []
    for ri, at, cls in _sample_points(prep, sel, TRAIN_TIMES[cfg.train_times]):
        covs.append(running_cov_at(v_runs[ri], a, cov_init, at))
        ys.append(cls)
    s, y = np.concatenate(covs), np.concatenate(ys)
    ref = riemann_mean(shrink(s, cfg.shrinkage), cfg.reference)
    ref_isqrt = powm_spd(ref, -0.5)
    x = tangent_vectors(s, cfg.shrinkage, ref_isqrt)
    lr = LogisticRegression(C=cfg.lr_c, max_iter=2000).fit(x, y)
    coef, intercept = _lin_to_rows(lr.coef_, lr.intercept_, k)
    return RiemannParams(ch_names=names, sfreq=prep.sfreq, preprocessing=pre, projection=proj, tau_s=cfg.tau_s,
                         shrinkage=cfg.shrinkage, cov_init=cov_init, ref_isqrt=ref_isqrt, coef=coef,
                         intercept=intercept, labels=list(prep.labels))


def fit(prep: Prepared, sel: Selection, cfg: Config) -> CspLdaParams | RiemannParams:
    """Fit the family of ``cfg``."""
    return fit_csp_lda(prep, sel, cfg) if isinstance(cfg, CspConfig) else fit_riemann(prep, sel, cfg)


# --- prediction on prepared (cached) data ----------------------------------------------------------------


def predict_prepared(prep: Prepared, params: CspLdaParams | RiemannParams, cfg: Config, run_idx: int,
                     at: np.ndarray) -> np.ndarray:
    """Class probabilities ``[len(at), K]`` of ``params`` on run ``run_idx`` (from its first sample) at ``at``.

    Uses the cached preprocessed data of ``cfg`` (same channels/band/CAR as ``params``); equals
    :func:`.features.outputs_at` on the raw run.
    """
    _, _, u_runs = prep.filtered(cfg)
    u = u_runs[run_idx]
    a = decay(params.tau_s, params.sfreq)
    if isinstance(params, CspLdaParams):
        s = u @ params.filters
        # the running power is needed only up to the last asked sample
        p = running_power(s[:int(np.max(at)) + 1], a, params.power_init)[at]
        return softmax(np.log(p) @ params.coef.T + params.intercept)
    v = u if params.projection is None else u @ params.projection
    s = running_cov_at(v, a, params.cov_init, at)
    return softmax(tangent_vectors(s, params.shrinkage, params.ref_isqrt) @ params.coef.T + params.intercept)


# --- cross-validation ---------------------------------------------------------------------------------------


@dataclass
class Fold:
    train: Selection
    test: Selection


def make_folds(prep: Prepared, k_within: int = 5, seed: int = 0) -> tuple[list[Fold], str]:
    """Leave-one-run-out folds (two runs or more), else a stratified trial-wise k-fold within the single run.

    Returns the folds and a description of the scheme, for reports.
    """
    n_runs = len(prep.runs)
    n_classes = len(prep.labels)
    if n_runs >= 2:
        folds = [Fold(all_trials(prep, [i for i in range(n_runs) if i != j]), all_trials(prep, [j]))
                 for j in range(n_runs)]
        complete = all(len(np.unique(np.concatenate([prep.runs[ri].trials.classes[tr] for ri, tr in f.train])))
                       == n_classes for f in folds)
        if complete:
            return folds, f"leave-one-run-out over {n_runs} runs"
    from sklearn.model_selection import StratifiedKFold

    # trial-wise over all runs: (run, trial) pairs
    pairs = [(ri, ti) for ri, r in enumerate(prep.runs) for ti in range(len(r.trials))]
    y = np.array([prep.runs[ri].trials.classes[ti] for ri, ti in pairs])
    k = max(int(min(k_within, np.bincount(y, minlength=n_classes).min())), 2)
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)

    def selection(rows: np.ndarray) -> Selection:
        return [(ri, np.array([pairs[j][1] for j in rows if pairs[j][0] == ri], dtype=np.int64))
                for ri in range(n_runs) if any(pairs[j][0] == ri for j in rows)]

    folds = [Fold(selection(tr), selection(te)) for tr, te in skf.split(np.zeros(len(y)), y)]
    what = "single run" if n_runs == 1 else f"{n_runs} runs, but leaving a run out would drop a class"
    return folds, (f"{what}: stratified {k}-fold over trials (the running estimators still run over "
                   f"each whole run; filters and classifier are fitted on the training trials only)")


@dataclass
class CvResult:
    """Cross-validated trial decisions: ``acc[t]`` per time after cue, and per-trial records."""

    acc: dict[float, float]
    n_trials: int
    n_correct: dict[float, int]
    per_fold: list[dict[float, float]] = field(default_factory=list)

    def at(self, t: float = DECISION_TIME) -> float:
        return self.acc[t]


def cross_validate(prep: Prepared, cfg: Config, folds: Sequence[Fold],
                   eval_times: Sequence[float] = EVAL_TIMES) -> CvResult:
    """Fit on each fold's training trials, decide each test trial at ``eval_times`` after its cue."""
    correct = {t: 0 for t in eval_times}
    total = 0
    per_fold = []
    for fold in folds:
        params = fit(prep, fold.train, cfg)
        f_correct = {t: 0 for t in eval_times}
        f_total = 0
        for ri, tr in fold.test:
            run = prep.runs[ri]
            onsets, classes = run.trials.onsets[tr], run.trials.classes[tr]
            keep = onsets + int(round(max(eval_times) * prep.sfreq)) < run.n_times
            onsets, classes = onsets[keep], classes[keep]
            at = (onsets[:, None] + np.round(np.asarray(eval_times) * prep.sfreq).astype(np.int64)[None, :])
            probs = predict_prepared(prep, params, cfg, ri, at.ravel()).reshape(len(onsets), len(eval_times), -1)
            pred = probs.argmax(axis=-1)
            for j, t in enumerate(eval_times):
                f_correct[t] += int((pred[:, j] == classes).sum())
            f_total += len(onsets)
        per_fold.append({t: f_correct[t] / max(f_total, 1) for t in eval_times})
        for t in eval_times:
            correct[t] += f_correct[t]
        total += f_total
    return CvResult(acc={t: correct[t] / max(total, 1) for t in eval_times}, n_trials=total, n_correct=correct,
                    per_fold=per_fold)


def with_(cfg: Config, **changes) -> Config:
    """A copy of ``cfg`` with ``changes``."""
    return replace(cfg, **changes)


__all__ = [
    "CspConfig", "CvResult", "DECISION_TIME", "EVAL_TIMES", "Fold", "Prepared", "RiemannConfig", "Run",
    "TRAIN_TIMES", "all_trials", "config_dict", "config_label", "cross_validate", "fit", "fit_csp_lda",
    "fit_riemann", "make_folds", "predict_prepared", "riemann_mean", "with_",
]
