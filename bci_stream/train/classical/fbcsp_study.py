"""Study: does a streaming filter-bank CSP (FBCSP) beat the two classical families across subjects?

``python -m bci_stream.train.classical.fbcsp_study --out DIR [--jobs 2]``

FBCSP (Ang et al. 2008, without its mutual-information feature selection; a shrinkage LDA on all features
instead): the band-passed signal of each of :data:`BANDS` (causal Butterworth, as the other families) gets its
own CSP filters (``PER_BAND`` per band, picked as the CSP family's), a running log power per component (the CSP
family's estimator and ``tau_s``), and one LDA reads all bands' features. Everything else is ``DEFAULT_CSP``.

Scored as the families are in :mod:`.study` — leave-one-run-out trial accuracy at 2 s after cue on the
calibration runs of every unit of :data:`.study.CALIBRATION` (test runs never read) — side by side with
``DEFAULT_CSP`` and ``DEFAULT_RIEMANN``. The gate (written before the run): a graph family is built only if
FBCSP beats both by at least ``GATE_TRIALS`` correct trials in total and no subject reverses it. Writes
``DIR/fbcsp_study.json`` and ``DIR/fbcsp_study.md``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from bci_stream.train.classical.configs import (
    DECISION_TIME, DEFAULT_CSP, DEFAULT_RIEMANN, TRAIN_TIMES, CspConfig, with_,
)

BANDS: tuple[tuple[float, float], ...] = tuple((float(lo), float(lo + 4)) for lo in range(4, 40, 4))
PER_BAND = 4
GATE_TRIALS = 6


@dataclass(frozen=True)
class FbcspConfig:
    """Filter-bank CSP: ``base`` (a CSP+LDA config) run once per band of ``bands``, ``per_band`` filters each."""

    base: CspConfig = DEFAULT_CSP
    bands: tuple[tuple[float, float], ...] = BANDS
    per_band: int = PER_BAND

    def band_configs(self) -> list[CspConfig]:
        return [with_(self.base, band=b, n_components=self.per_band) for b in self.bands]


@dataclass
class FbcspParams:
    """Per band: CSP filters ``[C, m]`` and the running power's initial state; one read-out for all bands."""

    configs: list[CspConfig]
    filters: list[np.ndarray]
    power_init: list[np.ndarray]
    coef: np.ndarray
    intercept: np.ndarray
    tau_s: float
    sfreq: float
    labels: list[str] = field(default_factory=list)


def _band_log_power(prep, cfg: CspConfig, filters: np.ndarray, power_init: np.ndarray, ri: int,
                    at: np.ndarray) -> np.ndarray:
    from bci_stream.train.classical.reference import running_log_power, smoothing_factor

    _, _, u_runs = prep.filtered(cfg)
    s = u_runs[ri][:int(np.max(at)) + 1] @ filters
    return running_log_power(s, smoothing_factor(cfg.tau_s, prep.sfreq), power_init)[at]


def fit_fbcsp(prep, sel, cfg: FbcspConfig) -> FbcspParams:
    """Fit the filter bank's CSP filters and one shrinkage LDA on the trials ``sel`` (as :func:`.fit.fit_csp_lda`)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from bci_stream.train.classical.fit import _class_covs, _csp_filters, _lin_to_rows, _power_init, _sample_points

    k = len(prep.labels)
    train_runs = sorted({ri for ri, _ in sel})
    points = _sample_points(prep, sel, TRAIN_TIMES[cfg.base.train_times])
    filters, inits, feats = [], [], []
    for bc in cfg.band_configs():
        _, _, u_runs = prep.filtered(bc)
        w = _csp_filters(_class_covs(prep, u_runs, sel, bc.csp_window, k), bc.n_components, bc.cov_shrinkage)
        init = _power_init([u_runs[ri] @ w for ri in train_runs])
        filters.append(w)
        inits.append(init)
        feats.append(np.concatenate([_band_log_power(prep, bc, w, init, ri, at) for ri, at, _ in points]))
    x = np.concatenate(feats, axis=1)
    y = np.concatenate([cls for _, _, cls in points])
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(x, y)
    coef, intercept = _lin_to_rows(lda.coef_, lda.intercept_, k)
    return FbcspParams(cfg.band_configs(), filters, inits, coef, intercept, cfg.base.tau_s, prep.sfreq,
                       list(prep.labels))


def predict_fbcsp(prep, params: FbcspParams, cfg: FbcspConfig, ri: int, at: np.ndarray) -> np.ndarray:
    """Class probabilities ``[len(at), K]`` on run ``ri`` (streamed from its first sample) at samples ``at``."""
    from bci_stream.train.classical.reference import softmax

    x = np.concatenate([_band_log_power(prep, bc, w, init, ri, np.asarray(at))
                        for bc, w, init in zip(params.configs, params.filters, params.power_init)], axis=1)
    return softmax(x @ params.coef.T + params.intercept)


def run_unit(unit: str) -> dict:
    """LORO correct / trials at each evaluation time for FBCSP and the two families' defaults on ``unit``."""
    from bci_stream.train.classical.calibration_inputs import load_calibration
    from bci_stream.train.classical.cv import cross_validate, make_folds
    from bci_stream.train.classical.study import CALIBRATION, calibration_paths

    prep = load_calibration(calibration_paths(unit), CALIBRATION[unit][1], progress=False)
    folds, _ = make_folds(prep)
    res = {"fbcsp": cross_validate(prep, FbcspConfig(), folds, fit_fn=fit_fbcsp, predict_fn=predict_fbcsp),
           "csp_lda": cross_validate(prep, DEFAULT_CSP, folds),
           "riemann": cross_validate(prep, DEFAULT_RIEMANN, folds)}
    print(f"{unit}: " + ", ".join(f"{k} {v.n_correct[DECISION_TIME]}/{v.n_trials}" for k, v in res.items()),
          file=sys.stderr, flush=True)
    return {"unit": unit, "n_trials": res["fbcsp"].n_trials,
            "correct": {k: v.counts() for k, v in res.items()}}


def gate(rows: list[dict]) -> dict:
    """Totals at 2 s, per subject (every unit of a subject together), and whether the gate passes."""
    from bci_stream.train.classical.study import gate_against

    g = gate_against(rows, "fbcsp", ("csp_lda", "riemann"), GATE_TRIALS)
    g["subjects_where_fbcsp_loses"] = g.pop("losing")
    return g


def markdown(rows: list[dict], g: dict) -> str:
    key = f"{DECISION_TIME:g}"
    md = ["# Filter-bank CSP vs the classical families (LORO on calibration runs, correct at 2 s)", "",
          f"FBCSP: {len(BANDS)} bands {BANDS[0][0]:g}-{BANDS[-1][1]:g} Hz (4 Hz wide), {PER_BAND} CSP filters per "
          "band, shrinkage LDA on all; otherwise DEFAULT_CSP.", "",
          "| unit | trials | FBCSP | CSP+LDA (default) | tangent space (default) |", "|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['unit']} | {r['n_trials']} | " + " | ".join(str(r["correct"][m][key])
                                                              for m in ("fbcsp", "csp_lda", "riemann")) + " |")
    t = g["total"]
    md += [f"| **total** | {g['n']} | **{t['fbcsp']}** | {t['csp_lda']} | {t['riemann']} |", "",
           f"Gate (FBCSP ahead of both by >= {GATE_TRIALS} and behind on no subject): margin {g['margin']}, "
           f"subjects where FBCSP loses: {g['subjects_where_fbcsp_loses'] or 'none'} -> "
           f"**{'passes' if g['passes'] else 'does not pass'}**."]
    return "\n".join(md) + "\n"


def main(argv: list[str] | None = None) -> int:
    from bci_stream.train.classical.study import unit_study_main

    return unit_study_main(argv, prog="python -m bci_stream.train.classical.fbcsp_study", doc=__doc__,
                           stem="fbcsp_study", run=run_unit, items=list, gate=gate, markdown=markdown)


if __name__ == "__main__":
    sys.exit(main())
