"""Study: does cross-subject transfer (Riemannian re-centring) help the tangent-space family?

``python -m bci_stream.train.classical.transfer_study --out DIR [--jobs 2]``

Zanini et al. 2018 ("Transfer learning: a Riemannian geometry framework with applications to brain-computer
interfaces"): covariances of each subject re-centred at that subject's own mean lie around the identity, so
tangent vectors of several subjects can train one classifier. Here, for a target unit's fit on its training
runs (:func:`fit_transfer`): the target's projection, running covariances and reference point as in
:func:`.fit.fit_riemann`; every unit of *another* subject with the same task (same label map; calibration runs
only, :data:`.study.CALIBRATION`) projected with the target's projection, its running covariances at the same
training times re-centred at its own Riemannian mean; one logistic regression on all tangent vectors (equal
weight per sample). The result is an ordinary :class:`~.params.RiemannParams` (the target's reference point,
the pooled read-out): the exported step graph would be unchanged.

Scored as :mod:`.study` scores a family — leave-one-run-out trial accuracy at 2 s on each unit's calibration
runs — beside ``DEFAULT_RIEMANN`` fitted on the target alone. The gate (written before the run): worth wiring
into ``calibrate`` only if it is ahead by at least ``GATE_TRIALS`` correct trials in total and behind on no
subject. Writes ``DIR/transfer_study.json`` and ``DIR/transfer_study.md``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from bci_stream.train.classical.configs import DECISION_TIME, DEFAULT_RIEMANN, TRAIN_TIMES, RiemannConfig

GATE_TRIALS = 6
_PREPS: dict = {}


@dataclass(frozen=True)
class TransferConfig:
    """``base`` (a tangent-space config) fitted on the target plus the re-centred units ``others``."""

    base: RiemannConfig = DEFAULT_RIEMANN
    others: tuple[str, ...] = ()


def unit_prep(unit: str):
    """The prepared calibration runs of a study unit (cached per process)."""
    if unit not in _PREPS:
        from bci_stream.train.classical.calibration_inputs import load_calibration
        from bci_stream.train.classical.study import CALIBRATION, calibration_paths

        _PREPS[unit] = load_calibration(calibration_paths(unit), CALIBRATION[unit][1], progress=False)
    return _PREPS[unit]


def same_task_others(unit: str, units: list[str]) -> tuple[str, ...]:
    """The units of ``units`` from other subjects with the same label map as ``unit``."""
    from bci_stream.train.classical.study import CALIBRATION, other_subjects

    return tuple(u for u in other_subjects(units, unit) if CALIBRATION[u][1] == CALIBRATION[unit][1])


def recentred_vectors(prep, proj: np.ndarray | None, cfg: RiemannConfig, labels: list[str]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Tangent vectors of every trial of ``prep`` (all runs) at ``cfg``'s training times, projected with ``proj``
    and re-centred at their own Riemannian mean; classes as indices into ``labels``."""
    from bci_stream.train.classical.features import running_cov_at
    from bci_stream.train.classical.fit import _sample_points, powm_spd, riemann_mean
    from bci_stream.train.classical.prepared import all_trials
    from bci_stream.train.classical.reference import shrink, smoothing_factor, tangent_vectors

    _, _, u_runs = prep.filtered(cfg)
    v_runs = [u if proj is None else u @ proj for u in u_runs]
    cov_init = np.mean([v.T @ v / len(v) for v in v_runs], axis=0)
    a = smoothing_factor(cfg.tau_s, prep.sfreq)
    sel = all_trials(prep, range(len(prep.runs)))
    covs, ys = [], []
    for ri, at, cls in _sample_points(prep, sel, TRAIN_TIMES[cfg.train_times]):
        covs.append(running_cov_at(v_runs[ri], a, cov_init, at))
        ys.append(cls)
    s = np.concatenate(covs)
    to_target = np.array([labels.index(name) for name in prep.labels])
    ref = riemann_mean(shrink(s, cfg.shrinkage), cfg.reference)
    return tangent_vectors(s, cfg.shrinkage, powm_spd(ref, -0.5)), to_target[np.concatenate(ys)]


def fit_transfer(prep, sel, cfg: TransferConfig):
    """The target's tangent-space fit on ``sel``, its logistic regression refitted on its own and the other
    units' re-centred tangent vectors."""
    from sklearn.linear_model import LogisticRegression

    from bci_stream.train.classical.fit import _lin_to_rows, _sample_points, fit_riemann
    from bci_stream.train.classical.features import running_cov_at
    from bci_stream.train.classical.reference import components, smoothing_factor, tangent_vectors

    own = fit_riemann(prep, sel, cfg.base)
    _, _, u_runs = prep.filtered(cfg.base)
    a = smoothing_factor(cfg.base.tau_s, prep.sfreq)
    xs, ys = [], []
    for ri, at, cls in _sample_points(prep, sel, TRAIN_TIMES[cfg.base.train_times]):
        v = components(own, u_runs[ri])
        xs.append(tangent_vectors(running_cov_at(v, a, own.cov_init, at), own.shrinkage, own.ref_isqrt))
        ys.append(cls)
    for unit in cfg.others:
        other = unit_prep(unit)
        if other.ch_names != prep.ch_names:
            raise ValueError(f"others must have the target's channels; {unit} differs")
        x, y = recentred_vectors(other, own.projection, cfg.base, list(prep.labels))
        xs.append(x)
        ys.append(y)
    lr = LogisticRegression(C=cfg.base.lr_c, max_iter=2000).fit(np.concatenate(xs), np.concatenate(ys))
    own.coef, own.intercept = _lin_to_rows(lr.coef_, lr.intercept_, len(prep.labels))
    return own


def predict_transfer(prep, params, cfg: TransferConfig, ri: int, at: np.ndarray) -> np.ndarray:
    """As :func:`.cv.predict_prepared` with the base config (the target's channels and band)."""
    from bci_stream.train.classical.cv import predict_prepared

    return predict_prepared(prep, params, cfg.base, ri, at)


def run_unit(args: tuple[str, tuple[str, ...]]) -> dict:
    """LORO correct at each evaluation time on ``unit``: the target alone, and with transfer from ``units``."""
    from bci_stream.train.classical.cv import cross_validate, make_folds

    unit, units = args
    prep = unit_prep(unit)
    folds, _ = make_folds(prep)
    others = same_task_others(unit, list(units))
    res = {"alone": cross_validate(prep, DEFAULT_RIEMANN, folds),
           "transfer": cross_validate(prep, TransferConfig(DEFAULT_RIEMANN, others), folds, fit_fn=fit_transfer,
                                       predict_fn=predict_transfer)}
    print(f"{unit} (+{', '.join(others)}): " + ", ".join(f"{k} {v.n_correct[DECISION_TIME]}/{v.n_trials}"
                                                        for k, v in res.items()), file=sys.stderr, flush=True)
    return {"unit": unit, "others": list(others), "n_trials": res["alone"].n_trials,
            "correct": {k: v.counts() for k, v in res.items()}}


def gate(rows: list[dict]) -> dict:
    """Totals at 2 s, per subject (a subject's units together), and whether the gate passes."""
    from bci_stream.train.classical.study import gate_against

    g = gate_against(rows, "transfer", ("alone",), GATE_TRIALS)
    g["subjects_worse"] = g.pop("losing")
    return g


def markdown(rows: list[dict], g: dict) -> str:
    key = f"{DECISION_TIME:g}"
    md = ["# Cross-subject transfer (re-centred tangent space) vs the target alone (LORO, correct at 2 s)", "",
          "| unit | pooled with | trials | alone | transfer |", "|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['unit']} | {', '.join(r['others']) or '-'} | {r['n_trials']} | {r['correct']['alone'][key]} "
                  f"| {r['correct']['transfer'][key]} |")
    t = g["total"]
    md += [f"| **total** | | {g['n']} | {t['alone']} | **{t['transfer']}** |", "",
           f"Gate (transfer ahead by >= {GATE_TRIALS} and worse on no subject): margin {g['margin']}, subjects "
           f"worse: {g['subjects_worse'] or 'none'} -> **{'passes' if g['passes'] else 'does not pass'}**."]
    return "\n".join(md) + "\n"


def main(argv: list[str] | None = None) -> int:
    from bci_stream.train.classical.study import unit_study_main

    return unit_study_main(argv, prog="python -m bci_stream.train.classical.transfer_study", doc=__doc__,
                           stem="transfer_study", run=run_unit, items=lambda units: [(u, units) for u in units],
                           gate=gate, markdown=markdown)


if __name__ == "__main__":
    sys.exit(main())
