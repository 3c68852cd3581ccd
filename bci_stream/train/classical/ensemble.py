"""The averaged decoder (family ``ensemble``): every candidate of both classical families on one stream, one output.

``calibrate`` cross-validates 8 candidate configs per family (channels × band × ``tau_s`` around the study's
defaults) and used to pick one of them on CV differences of a trial or two. Averaging them instead is the
textbook answer to selection under noise, and the nested study on the calibration runs of seven subject-task
units measured it (:mod:`.selection_study`; held-out-run correct at 2 s of 375: the average of all 16 candidates
307, the best single-pick rule 294, behind on no subject). Per sample t, on the card's channels ``ch_names``
(the union of the members' channels, in the recording's order), each member with its own channels, band-pass and
running estimator exactly as :mod:`.params` describes it::

    l_i_t = member i's logits at t      # CSP+LDA: log(p_t) @ coef.T + b; tangent space: f_t @ coef.T + b
    y_t   = mean_i softmax(l_i_t)       # the mean of the members' class probabilities

Parameters, config, fitting, cross-validation (no fit of its own: the members' CV on the same folds, averaged,
:func:`ensemble_cv`) and the offline numpy reference; the step graph is :mod:`.ensemble_graph`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bci_stream.dsp.preprocess import PreprocessingConfig
from bci_stream.train.classical.configs import Config, CspConfig, config_dict, config_label
from bci_stream.train.classical.cv import CvResult, cv_with_probs
from bci_stream.train.classical.params import CspLdaParams, RiemannParams, clip_entry
from bci_stream.train.classical.reference import (
    check_csp_lda,
    check_riemann,
    csp_log_power,
    softmax,
    tangent_features,
)

FAMILY = "ensemble"
Member = CspLdaParams | RiemannParams


@dataclass(frozen=True)
class EnsembleConfig:
    """The members' configs (CSP+LDA or tangent space each); the output is the mean of their probabilities."""

    members: tuple[Config, ...]

    family = FAMILY

    def label(self) -> str:
        """A one-line description (the members are listed by :meth:`as_dict`)."""
        n_csp = sum(isinstance(c, CspConfig) for c in self.members)
        return f"{FAMILY} mean of {len(self.members)} ({n_csp} csp_lda, {len(self.members) - n_csp} riemann)"

    def member_labels(self) -> list[str]:
        return [config_label(c) for c in self.members]

    def as_dict(self) -> dict:
        return {"family": FAMILY, "members": [config_dict(c) for c in self.members]}


@dataclass
class EnsembleParams:
    """A fitted averaged decoder: each member's parameters on its own channel subset of ``ch_names``."""

    members: list[Member]
    ch_names: list[str]

    @property
    def sfreq(self) -> float:
        return self.members[0].sfreq

    @property
    def labels(self) -> list[str]:
        return list(self.members[0].labels)

    @property
    def preprocessing(self) -> PreprocessingConfig:
        """The card's preprocessing: the first member's (the graph's filter state ``zf``); every member's own is
        in the card's ``architecture``."""
        return self.members[0].preprocessing

    def preprocessing_note(self) -> str:
        """What the card's top-level ``preprocessing`` (member 0's) is, and every member's in words: a lab reading
        ``model.json`` is not to take member 0's band-pass and CAR for the whole decoder's."""
        groups: dict[str, list[int]] = {}
        for i, m in enumerate(self.members):
            groups.setdefault(describe_preprocessing(m.preprocessing), []).append(i)
        if len(groups) == 1:
            return f"ensemble: all {len(self.members)} members use this preprocessing ({next(iter(groups))})"
        each = "; ".join(f"{what} (members {', '.join(map(str, idx))})" for what, idx in groups.items())
        return (f"ensemble: `preprocessing` is member 0's only (its filter is the graph's state zf); the "
                f"{len(self.members)} members use {len(groups)} preprocessings: {each}; each member's is in "
                "architecture.members[i].preprocessing")

    def indices(self) -> list[list[int]]:
        """Positions of each member's channels in ``ch_names``."""
        pos = {n: i for i, n in enumerate(self.ch_names)}
        return [[pos[n] for n in m.ch_names] for m in self.members]


def describe_preprocessing(pre: PreprocessingConfig) -> str:
    """``8-30 Hz band-pass, CAR`` and the like: a preprocessing in words."""
    parts = [f"{pre.bandpass[0]:g}-{pre.bandpass[1]:g} Hz band-pass (order {pre.filter_order})" if pre.bandpass
             else "no band-pass"]
    parts += [f"{pre.notch:g} Hz notch"] if pre.notch else []
    parts += ["CAR" if pre.car else "no CAR"] + (["standardised"] if pre.std is not None else [])
    return ", ".join(parts)


def check_ensemble(p: EnsembleParams) -> None:
    """Validate an averaged decoder (errors name the parameter, the rule and the bad value)."""
    if not p.members:
        raise ValueError("members must hold at least one fitted decoder, got none")
    for i, m in enumerate(p.members):
        if isinstance(m, CspLdaParams):
            check_csp_lda(m)
        elif isinstance(m, RiemannParams):
            check_riemann(m)
        else:
            raise ValueError(f"members[{i}] must be CspLdaParams or RiemannParams, got {type(m).__name__}")
        if m.sfreq != p.sfreq:
            raise ValueError(f"sfreq must agree between the members, got {p.sfreq} and members[{i}] {m.sfreq}")
        if list(m.labels) != p.labels:
            raise ValueError(f"labels must agree between the members, got {p.labels} and members[{i}] {m.labels}")
    if len(p.ch_names) < 1 or len(set(p.ch_names)) != len(p.ch_names):
        raise ValueError(f"ch_names must be non-empty and unique, got {p.ch_names}")
    missing = sorted(set().union(*(m.ch_names for m in p.members)) - set(p.ch_names))
    if missing:
        raise ValueError(f"ch_names must hold every member's channels, missing {missing}")


# -- cross-validation -------------------------------------------------------------------------------------


def ensemble_cv(results: list[CvResult]) -> CvResult:
    """The averaged decoder's CV result from its members' CV on the same folds (no refitting).

    Raises
    ------
    ValueError
        No results, or results not of the same trials (classes, decision times or folds differ).
    """
    if not results:
        raise ValueError("results must hold at least one CV result, got none")
    base = results[0]
    for r in results[1:]:
        if r.eval_times != base.eval_times:
            raise ValueError(f"eval_times must agree, got {base.eval_times} and {r.eval_times}")
        if not np.array_equal(r.classes, base.classes) or list(r.fold_sizes) != list(base.fold_sizes):
            raise ValueError("every CV result must be of the same trials in the same folds (classes or folds differ)")
    return cv_with_probs(base, np.mean([np.asarray(r.probs, dtype=np.float64) for r in results], axis=0))


# -- fitting and the reference ---------------------------------------------------------------------------


def fit_ensemble(prep, sel, cfg: EnsembleConfig) -> EnsembleParams:
    """Fit every member on the trials ``sel`` of ``prep`` (:func:`~.fit.fit`)."""
    from bci_stream.train.classical.fit import fit

    members = [fit(prep, sel, c) for c in cfg.members]
    wanted = set().union(*(m.ch_names for m in members))
    return EnsembleParams(members=members, ch_names=[n for n in prep.ch_names if n in wanted])


def member_logits(m: Member, x: np.ndarray) -> np.ndarray:
    """Logits ``[T, K]`` (float64) of one member on raw ``x [T, C]`` (C = its channels)."""
    feats = csp_log_power(m, x) if isinstance(m, CspLdaParams) else tangent_features(m, x)
    return feats @ np.asarray(m.coef, np.float64).T + np.asarray(m.intercept, np.float64)


def ensemble_reference(p: EnsembleParams, x: np.ndarray) -> np.ndarray:
    """Class probabilities ``y [T, K]`` (float64) of the averaged decoder for every sample of raw ``x [T, C]``."""
    check_ensemble(p)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(p.ch_names):
        raise ValueError(f"x must have shape (T, n_chans={len(p.ch_names)}), got {x.shape}")
    return np.mean([softmax(member_logits(m, x[:, idx])) for m, idx in zip(p.members, p.indices())], axis=0)


def params_dict(p: EnsembleParams) -> list[dict]:
    """What the card's architecture says of each member (family, channels, preprocessing, sizes)."""
    out = []
    for m in p.members:
        d = {"ch_names": list(m.ch_names), "preprocessing": m.preprocessing.model_dump(), "tau_s": float(m.tau_s)}
        if isinstance(m, CspLdaParams):
            d |= {"family": "csp_lda", "n_components": int(np.asarray(m.filters).shape[1])}
        else:
            d |= {"family": "riemann", "n_dims": int(np.asarray(m.cov_init).shape[0]), "shrinkage": float(m.shrinkage)}
        out.append(d | clip_entry(m))
    return out


__all__ = ["FAMILY", "EnsembleConfig", "EnsembleParams", "check_ensemble", "ensemble_cv", "ensemble_reference",
           "fit_ensemble", "member_logits", "params_dict"]
