"""Study: do sliding-window (boxcar) estimators beat the exponential ones of the two classical families?

``python -m bci_stream.train.classical.window_study --out DIR [--jobs 2]``

The streaming families estimate band power (CSP+LDA) or the spatial covariance (tangent space) with an
exponential running mean (``tau_s``). The epoch baselines labs run use a flat window instead. Here the running
estimator is the plain mean over the last ``L`` seconds (:func:`boxcar_mean`, causal, every sample), for each
``L`` of :data:`WINDOWS`; everything else is the family's default (``DEFAULT_CSP`` / ``DEFAULT_RIEMANN``:
channels, band, CSP or projection window, training times, shrinkage, read-out).

Scored as :mod:`.study` scores a family — leave-one-run-out trial accuracy at 2 s after cue on the calibration
runs of every unit of :data:`.study.CALIBRATION` (test runs never read). ``L`` is chosen leave-one-subject-out
(:func:`loso_choice`: the ``L`` with the most correct on the other subjects' units, ties to the shorter) and
scored on the held-out subject's units. The gate (written before the run), per family: a boxcar step graph is
built only if the boxcar is ahead of the family's exponential default by at least ``GATE_TRIALS`` correct
trials in total and behind on no subject. Writes ``DIR/window_study.json`` and ``DIR/window_study.md``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from bci_stream.train.classical.configs import (
    DECISION_TIME, DEFAULT_CSP, DEFAULT_RIEMANN, TRAIN_TIMES, Config, CspConfig,
)

WINDOWS: tuple[float, ...] = (1.0, 1.5, 2.0)
GATE_TRIALS = 6
FAMILIES = ("csp_lda", "riemann")


@dataclass(frozen=True)
class WindowConfig:
    """``base`` (either family's config) with its running estimator replaced by a ``window_s`` boxcar."""

    base: Config
    window_s: float


def boxcar_mean(values: np.ndarray, n: int, init: np.ndarray) -> np.ndarray:
    """The mean of the last ``n`` rows of ``values [T, ...]`` at every row (rows before the first are ``init``).

    ``out_t = (values_{t-n+1} + ... + values_t) / n``; causal: ``out_t`` uses no row after ``t``.
    """
    if n < 1:
        raise ValueError(f"n (window length in samples) must be >= 1, got {n}")
    v = np.asarray(values, dtype=np.float64)
    pad = np.broadcast_to(np.asarray(init, dtype=np.float64), (n, *v.shape[1:]))
    c = np.cumsum(np.concatenate([np.zeros((1, *v.shape[1:])), pad, v]), axis=0)
    return (c[n + 1:] - c[1:len(v) + 1]) / n


def _n(cfg: WindowConfig, sfreq: float) -> int:
    return max(int(round(cfg.window_s * sfreq)), 1)


def _csp_features(s: np.ndarray, n: int, power_init: np.ndarray, at: np.ndarray) -> np.ndarray:
    from bci_stream.train.classical.reference import TINY

    return np.log(np.maximum(boxcar_mean(s[:int(np.max(at)) + 1] ** 2, n, power_init)[at], TINY))


def _covs_at(v: np.ndarray, n: int, init: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Boxcar covariances ``[len(at), d, d]`` of ``v [T, d]`` over the ``n`` samples ending at each of ``at``."""
    vp = np.concatenate([np.zeros((n, v.shape[1])), v[:int(np.max(at)) + 1]])
    seg = vp[(np.asarray(at)[:, None] + 1 + np.arange(n)[None, :])]  # rows at-n+1 .. at of v (shifted by n)
    cov = np.einsum("tki,tkj->tij", seg, seg) / n
    missing = np.maximum(n - 1 - np.asarray(at), 0)  # samples before the run's start count as init
    return cov + (missing / n)[:, None, None] * init[None]


def fit_window(prep, sel, cfg: WindowConfig):
    """Fit ``cfg.base``'s family on ``sel`` with boxcar features (as :func:`.fit.fit_csp_lda` /
    :func:`.fit.fit_riemann` with the exponential estimator swapped)."""
    from bci_stream.train.classical.fit import (
        _class_covs, _csp_filters, _lin_to_rows, _power_init, _projection, _sample_points, powm_spd, riemann_mean,
    )
    from bci_stream.train.classical.params import CspLdaParams, RiemannParams
    from bci_stream.train.classical.reference import shrink, tangent_vectors

    base = cfg.base
    names, pre, u_runs = prep.filtered(base)
    k = len(prep.labels)
    n = _n(cfg, prep.sfreq)
    train_runs = sorted({ri for ri, _ in sel})
    points = _sample_points(prep, sel, TRAIN_TIMES[base.train_times])
    y = np.concatenate([cls for _, _, cls in points])
    if isinstance(base, CspConfig):
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        filters = _csp_filters(_class_covs(prep, u_runs, sel, base.csp_window, k), base.n_components,
                               base.cov_shrinkage)
        power_init = _power_init([u_runs[ri] @ filters for ri in train_runs])
        x = np.concatenate([_csp_features(u_runs[ri] @ filters, n, power_init, at) for ri, at, _ in points])
        lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(x, y)
        coef, intercept = _lin_to_rows(lda.coef_, lda.intercept_, k)
        return CspLdaParams(ch_names=names, sfreq=prep.sfreq, preprocessing=pre, filters=filters,
                            tau_s=base.tau_s, power_init=power_init, coef=coef, intercept=intercept,
                            labels=list(prep.labels))
    from sklearn.linear_model import LogisticRegression

    proj = _projection(prep, u_runs, sel, base)
    v_runs = {ri: u_runs[ri] if proj is None else u_runs[ri] @ proj for ri in train_runs}
    cov_init = np.mean([v.T @ v / len(v) for v in v_runs.values()], axis=0)
    s = np.concatenate([_covs_at(v_runs[ri], n, cov_init, at) for ri, at, _ in points])
    ref_isqrt = powm_spd(riemann_mean(shrink(s, base.shrinkage), base.reference), -0.5)
    lr = LogisticRegression(C=base.lr_c, max_iter=2000).fit(tangent_vectors(s, base.shrinkage, ref_isqrt), y)
    coef, intercept = _lin_to_rows(lr.coef_, lr.intercept_, k)
    return RiemannParams(ch_names=names, sfreq=prep.sfreq, preprocessing=pre, projection=proj, tau_s=base.tau_s,
                         shrinkage=base.shrinkage, cov_init=cov_init, ref_isqrt=ref_isqrt, coef=coef,
                         intercept=intercept, labels=list(prep.labels))


def predict_window(prep, params, cfg: WindowConfig, ri: int, at: np.ndarray) -> np.ndarray:
    """Class probabilities ``[len(at), K]`` on run ``ri`` (streamed from its first sample) at samples ``at``."""
    from bci_stream.train.classical.params import CspLdaParams
    from bci_stream.train.classical.reference import readout, tangent_vectors

    _, _, u_runs = prep.filtered(cfg.base)
    n, at = _n(cfg, prep.sfreq), np.asarray(at)
    if isinstance(params, CspLdaParams):
        return readout(params, _csp_features(u_runs[ri] @ params.filters, n, params.power_init, at))
    v = u_runs[ri] if params.projection is None else u_runs[ri] @ params.projection
    return readout(params, tangent_vectors(_covs_at(v, n, params.cov_init, at), params.shrinkage,
                                           params.ref_isqrt))


def method(family: str, window_s: float | None) -> str:
    """Column name: ``"csp_lda"`` (exponential default) or ``"csp_lda@1.5"`` (boxcar of 1.5 s)."""
    return family if window_s is None else f"{family}@{window_s:g}"


def run_unit(unit: str) -> dict:
    """LORO correct at each evaluation time on ``unit``: each family's default and its boxcar variants."""
    from bci_stream.train.classical.calibration_inputs import load_calibration
    from bci_stream.train.classical.cv import cross_validate, make_folds
    from bci_stream.train.classical.study import CALIBRATION, calibration_paths

    prep = load_calibration(calibration_paths(unit), CALIBRATION[unit][1], progress=False)
    folds, _ = make_folds(prep)
    res = {}
    for family, base in zip(FAMILIES, (DEFAULT_CSP, DEFAULT_RIEMANN)):
        res[method(family, None)] = cross_validate(prep, base, folds)
        for w in WINDOWS:
            res[method(family, w)] = cross_validate(prep, WindowConfig(base, w), folds, fit_fn=fit_window,
                                                    predict_fn=predict_window)
    print(f"{unit}: " + ", ".join(f"{k} {v.n_correct[DECISION_TIME]}" for k, v in res.items()),
          file=sys.stderr, flush=True)
    return {"unit": unit, "n_trials": res["csp_lda"].n_trials,
            "correct": {k: v.counts() for k, v in res.items()}}


def loso_choice(rows: list[dict], family: str) -> dict[str, float]:
    """Per subject: the window with the most correct at 2 s on the *other* subjects' units (ties: shorter)."""
    from bci_stream.train.classical.study import subject_of

    key = f"{DECISION_TIME:g}"
    out = {}
    for s in dict.fromkeys(subject_of(r["unit"]) for r in rows):
        others = [r for r in rows if subject_of(r["unit"]) != s]
        out[s] = max(WINDOWS, key=lambda w: (sum(r["correct"][method(family, w)][key] for r in others), -w))
    return out


def with_loso(rows: list[dict]) -> list[dict]:
    """``rows`` with a ``<family>@loso`` column per family: each unit scored with its subject's LOSO window."""
    from bci_stream.train.classical.study import subject_of

    out = [dict(r, correct=dict(r["correct"])) for r in rows]
    for family in FAMILIES:
        choice = loso_choice(rows, family)
        for r in out:
            w = choice[subject_of(r["unit"])]
            r["correct"][f"{family}@loso"] = r["correct"][method(family, w)]
            r.setdefault("loso_window", {})[family] = w
    return out


def gate(rows: list[dict]) -> dict:
    """Per family: totals at 2 s, per subject, and whether the boxcar (LOSO window) passes the gate."""
    from bci_stream.train.classical.study import gate_against

    loso = with_loso(rows)
    return {family: dict(gate_against(loso, f"{family}@loso", (family,), GATE_TRIALS),
                         windows={r["unit"]: r["loso_window"][family] for r in loso},
                         fixed={f"{w:g}": gate_against(rows, method(family, w), (family,), GATE_TRIALS)["total"]
                                [method(family, w)] for w in WINDOWS})
            for family in FAMILIES}


def markdown(rows: list[dict], g: dict) -> str:
    from bci_stream.train.classical.study import gate_verdict

    key = f"{DECISION_TIME:g}"
    loso = with_loso(rows)
    md = ["# Boxcar vs exponential running estimators (LORO on calibration runs, correct at 2 s)", ""]
    for family in FAMILIES:
        cols = [method(family, None)] + [method(family, w) for w in WINDOWS] + [f"{family}@loso"]
        md += [f"## {family}", "", "| unit | trials | exponential (default) | "
               + " | ".join(f"boxcar {w:g} s" for w in WINDOWS) + " | boxcar, LOSO window |",
               "|---" * (len(cols) + 2) + "|"]
        for r in loso:
            md.append(f"| {r['unit']} | {r['n_trials']} | " + " | ".join(str(r["correct"][c][key]) for c in cols[:-1])
                      + f" | {r['correct'][cols[-1]][key]} ({r['loso_window'][family]:g} s) |")
        fg = g[family]
        md += [f"| **total** | {fg['n']} | {fg['total'][family]} | "
               + " | ".join(str(fg["fixed"][f"{w:g}"]) for w in WINDOWS) + f" | **{fg['total'][cols[-1]]}** |", "",
               f"Gate (boxcar with the LOSO window ahead by >= {GATE_TRIALS} and behind on no subject): "
               + gate_verdict(fg), ""]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    from bci_stream.train.classical.study import unit_study_main

    return unit_study_main(argv, prog="python -m bci_stream.train.classical.window_study", doc=__doc__,
                           stem="window_study", run=run_unit, items=list, gate=gate, markdown=markdown)


if __name__ == "__main__":
    sys.exit(main())
