"""The combined decoder (family ``csp_riemann``): CSP+LDA and tangent space + LR on one stream, one output.

Parameters, config, fitting and the offline numpy reference (numpy/scipy only; the step graph is
:mod:`.combined_graph`). Per sample t, on the card's channels ``ch_names`` (the union of both front-ends'
channels, in the recording's order), each front-end with its own channels, band-pass and running estimator
exactly as :mod:`.params` describes it::

    l_csp_t = log(p_t) @ csp.coef.T + csp.intercept          # CSP+LDA logits  [K]
    l_ts_t  = f_t @ riemann.coef.T + riemann.intercept       # tangent-space + LR logits  [K]
    "logmean":  y_t = softmax((l_csp_t + l_ts_t) / 2)        # mean of the two log-probabilities, renormalised
    "probmean": y_t = (softmax(l_csp_t) + softmax(l_ts_t)) / 2   # mean of the two probabilities

``logmean`` is the normalised geometric mean (a product of experts: each softmax's log-normaliser is a
constant per sample, so the mean of log-probabilities and the mean of logits give the same softmax);
``probmean`` the arithmetic mean. Which one calibrate uses was chosen by :mod:`.selection_study`.

Cross-validation of the combined family needs no fit of its own: both families are cross-validated on the
same folds in the same trial order, so :func:`combined_cv` combines their held-out probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from bci_stream.dsp.preprocess import PreprocessingConfig
from bci_stream.train.classical.configs import CspConfig, RiemannConfig, config_dict, config_label
from bci_stream.train.classical.cv import CvResult, cv_with_probs
from bci_stream.train.classical.params import CspLdaParams, RiemannParams, clip_entry
from bci_stream.train.classical.reference import (
    TINY,
    check_csp_lda,
    check_riemann,
    csp_log_power,
    softmax,
    tangent_features,
)

FAMILY = "csp_riemann"
COMBINES: tuple[str, ...] = ("logmean", "probmean")
Combine = Literal["logmean", "probmean"]
#: How calibrate combines the two families: chosen by the nested study (:mod:`.selection_study`, see
#: calibration.CANDIDATE_RULE for the figures).
DEFAULT_COMBINE: Combine = "probmean"


@dataclass(frozen=True)
class CombinedConfig:
    """The two front-ends' configs (each selected by CV within its family) and how the outputs combine."""

    csp: CspConfig
    riemann: RiemannConfig
    combine: Combine = DEFAULT_COMBINE

    family = FAMILY

    def label(self) -> str:
        return f"{FAMILY} {self.combine} [{config_label(self.csp)}] + [{config_label(self.riemann)}]"

    def as_dict(self) -> dict:
        return {"family": FAMILY, "combine": self.combine, "csp_lda": config_dict(self.csp),
                "riemann": config_dict(self.riemann)}


@dataclass
class CombinedParams:
    """A fitted combined decoder: both families' parameters on their own channel subsets of ``ch_names``."""

    csp: CspLdaParams
    riemann: RiemannParams
    ch_names: list[str]
    combine: str = DEFAULT_COMBINE

    @property
    def sfreq(self) -> float:
        return self.csp.sfreq

    @property
    def labels(self) -> list[str]:
        return list(self.csp.labels)

    @property
    def preprocessing(self) -> PreprocessingConfig:
        """The card's preprocessing: the CSP front-end's (the graph's filter state ``zf``); the tangent-space
        front-end's own is in the card's ``architecture``."""
        return self.csp.preprocessing

    def indices(self) -> tuple[list[int], list[int]]:
        """Positions of the CSP and the tangent-space front-ends' channels in ``ch_names``."""
        pos = {n: i for i, n in enumerate(self.ch_names)}
        return [pos[n] for n in self.csp.ch_names], [pos[n] for n in self.riemann.ch_names]


def check_combined(p: CombinedParams) -> None:
    """Validate a combined decoder (errors name the parameter, the rule and the bad value)."""
    check_csp_lda(p.csp)
    check_riemann(p.riemann)
    if p.combine not in COMBINES:
        raise ValueError(f"combine must be one of {COMBINES}, got {p.combine!r}")
    if p.csp.sfreq != p.riemann.sfreq:
        raise ValueError(f"sfreq must agree between the front-ends, got csp {p.csp.sfreq} and riemann "
                         f"{p.riemann.sfreq}")
    if list(p.csp.labels) != list(p.riemann.labels):
        raise ValueError(f"labels must agree between the front-ends, got csp {p.csp.labels} and riemann "
                         f"{p.riemann.labels}")
    if len(p.ch_names) < 1 or len(set(p.ch_names)) != len(p.ch_names):
        raise ValueError(f"ch_names must be non-empty and unique, got {p.ch_names}")
    missing = sorted((set(p.csp.ch_names) | set(p.riemann.ch_names)) - set(p.ch_names))
    if missing:
        raise ValueError(f"ch_names must hold every front-end channel, missing {missing}")


def union_channels(order: list[str], *subsets: list[str]) -> list[str]:
    """The channels of any of ``subsets``, in the order of ``order`` (the recording's)."""
    wanted = set().union(*subsets)
    return [n for n in order if n in wanted]


# -- the combination -------------------------------------------------------------------------------------


def combine_logits(l_csp: np.ndarray, l_ts: np.ndarray, how: str) -> np.ndarray:
    """Class probabilities ``[..., K]`` of both families' logits (module docstring)."""
    if how == "logmean":
        return softmax(0.5 * (np.asarray(l_csp, np.float64) + np.asarray(l_ts, np.float64)))
    if how == "probmean":
        return 0.5 * (softmax(np.array(l_csp, np.float64)) + softmax(np.array(l_ts, np.float64)))
    raise ValueError(f"combine must be one of {COMBINES}, got {how!r}")


def combine_probs(p_csp: np.ndarray, p_ts: np.ndarray, how: str) -> np.ndarray:
    """:func:`combine_logits` of both families' probabilities (their logs are logits up to a constant)."""
    if how == "probmean":
        return 0.5 * (np.asarray(p_csp, np.float64) + np.asarray(p_ts, np.float64))
    return combine_logits(np.log(np.maximum(p_csp, TINY)), np.log(np.maximum(p_ts, TINY)), how)


def combined_cv(cv_csp: CvResult, cv_ts: CvResult, how: str) -> CvResult:
    """The combined family's CV result from both families' CV on the same folds (no refitting).

    Raises
    ------
    ValueError
        The two results are not of the same trials (classes, decision times or fold count differ).
    """
    if cv_csp.eval_times != cv_ts.eval_times:
        raise ValueError(f"eval_times must agree, got {cv_csp.eval_times} and {cv_ts.eval_times}")
    if not np.array_equal(cv_csp.classes, cv_ts.classes) or len(cv_csp.per_fold) != len(cv_ts.per_fold):
        raise ValueError("both CV results must be of the same trials in the same folds (classes or folds differ)")
    return cv_with_probs(cv_csp, combine_probs(cv_csp.probs, cv_ts.probs, how))


# -- fitting and the reference ---------------------------------------------------------------------------


def fit_combined(prep, sel, cfg: CombinedConfig) -> CombinedParams:
    """Fit both front-ends on the trials ``sel`` of ``prep`` (:func:`~.fit.fit_csp_lda`, ``fit_riemann``)."""
    from bci_stream.train.classical.fit import fit_csp_lda, fit_riemann

    csp, ts = fit_csp_lda(prep, sel, cfg.csp), fit_riemann(prep, sel, cfg.riemann)
    return CombinedParams(csp=csp, riemann=ts, ch_names=union_channels(prep.ch_names, csp.ch_names, ts.ch_names),
                          combine=cfg.combine)


def front_end_logits(p: CombinedParams, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both families' logits ``[T, K]`` (float64) of raw ``x [T, C]`` (C = ``ch_names``)."""
    check_combined(p)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(p.ch_names):
        raise ValueError(f"x must have shape (T, n_chans={len(p.ch_names)}), got {x.shape}")
    i_csp, i_ts = p.indices()
    l_csp = csp_log_power(p.csp, x[:, i_csp]) @ np.asarray(p.csp.coef, np.float64).T + p.csp.intercept
    l_ts = tangent_features(p.riemann, x[:, i_ts]) @ np.asarray(p.riemann.coef, np.float64).T + p.riemann.intercept
    return l_csp, l_ts


def combined_reference(p: CombinedParams, x: np.ndarray) -> np.ndarray:
    """Class probabilities ``y [T, K]`` (float64) of the combined decoder for every sample of raw ``x [T, C]``."""
    return combine_logits(*front_end_logits(p, x), p.combine)


def params_dict(p: CombinedParams) -> dict:
    """What the card's architecture says of each front-end (channels, preprocessing, sizes)."""
    return {"csp_lda": {"ch_names": list(p.csp.ch_names), "preprocessing": p.csp.preprocessing.model_dump(),
                        "n_components": int(np.asarray(p.csp.filters).shape[1]), "tau_s": float(p.csp.tau_s)}
            | clip_entry(p.csp),
            "riemann": {"ch_names": list(p.riemann.ch_names), "preprocessing": p.riemann.preprocessing.model_dump(),
                        "n_dims": int(np.asarray(p.riemann.cov_init).shape[0]), "tau_s": float(p.riemann.tau_s),
                        "shrinkage": float(p.riemann.shrinkage)} | clip_entry(p.riemann)}


__all__ = ["COMBINES", "DEFAULT_COMBINE", "FAMILY", "CombinedConfig", "CombinedParams", "check_combined",
           "combine_logits", "combine_probs", "combined_cv", "combined_reference", "fit_combined",
           "front_end_logits", "params_dict", "union_channels"]
