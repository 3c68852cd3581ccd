"""The recurrent stage of ``bci-stream calibrate``: ship the residual GRU only where CV says it beats CSP+LDA.

:func:`recurrent_stage` runs after the classical family is chosen. When it is CSP+LDA (and the stage is on),
the residual GRU (:data:`~.residual.DEFAULT_RESIDUAL`, settings from :mod:`.residual_study`) is
cross-validated on the same folds as the classical candidates, on top of the chosen CSP+LDA config
(:func:`~.residual_cv.cross_validate_residual`). It is shipped only when its CV accuracy at the decision
time (2 s) is strictly higher than the classical one and its mean over 0.5-3 s is not lower; it is then
trained on every calibration trial on top of the final CSP+LDA and exported as family ``csp_gru``, unless
that training's early stopping kept the initial (zero) read-out, which would ship CSP+LDA at a GRU's cost
(:func:`~.residual_graph.export_csp_gru`). The outcome, shipped or not and why, is the report's
``recurrent`` section.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bci_stream.core.card import ModelCard
from bci_stream.train.classical.configs import DECISION_TIME, EVAL_TIMES, Config, CspConfig
from bci_stream.train.classical.cv import CvResult, Fold
from bci_stream.train.classical.params import CspLdaParams, RiemannParams
from bci_stream.train.classical.prepared import Prepared, all_trials


@dataclass
class RecurrentOutcome:
    """The recurrent stage's report section, and the model to export when it is shipped."""

    report: dict
    params: object | None = None  # ResidualParams when shipped
    extra_metrics: dict = field(default_factory=dict)

    @property
    def shipped(self) -> bool:
        return self.params is not None

    def export(self, model_dir: Path, name: str, training: dict, metrics: dict, version: str = "1.0.0") -> ModelCard:
        """Export the shipped residual model (its CV figures replace the classical ones in the card's metrics)."""
        from bci_stream.train.classical.residual_graph import export_csp_gru

        if self.params is None:
            raise ValueError("export needs a shipped residual model; recurrent_stage shipped none")
        scoring = {"marker_map": dict(training["label_map"]), "decision_time_s": DECISION_TIME}  # live scoring
        return export_csp_gru(self.params, model_dir, name=name, version=version,
                              training=training | {"recurrent": self.report["config"]},
                              metrics=metrics | self.extra_metrics, scoring=scoring)


def _acc(cv: CvResult) -> dict[str, float]:
    return {f"{t:g}": cv.acc[t] for t in EVAL_TIMES}


def _mean(cv: CvResult) -> float:
    return sum(cv.acc[t] for t in EVAL_TIMES) / len(EVAL_TIMES)


def decide(classical: CvResult, residual: CvResult) -> tuple[bool, str]:
    """Ship the residual model? Only when its CV accuracy at the decision time is strictly higher and its
    mean over the evaluation times is not lower. Returns the decision and why."""
    c2, r2 = classical.acc[DECISION_TIME], residual.acc[DECISION_TIME]
    cm, rm = _mean(classical), _mean(residual)
    if r2 > c2 and rm >= cm:
        return True, (f"shipped: CV accuracy at {DECISION_TIME:g} s {r2:.3f} > {c2:.3f} (CSP+LDA), mean over "
                      f"0.5-3 s {rm:.3f} >= {cm:.3f}")
    if r2 <= c2:
        return False, f"not shipped: CV accuracy at {DECISION_TIME:g} s {r2:.3f} is not higher than CSP+LDA's {c2:.3f}"
    return False, (f"not shipped: CV accuracy at {DECISION_TIME:g} s {r2:.3f} > {c2:.3f}, but the mean over 0.5-3 s "
                   f"{rm:.3f} is lower than CSP+LDA's {cm:.3f}")


def recurrent_stage(prep: Prepared, folds: Sequence[Fold], family: str, config: Config, classical_cv: CvResult,
                    params: CspLdaParams | RiemannParams, *, enabled: bool = True, progress: bool = False,
                    echo: Callable[[str], None] = print) -> RecurrentOutcome:
    """CV the residual GRU on CSP+LDA ``config`` (same ``folds``) and decide whether to ship it.

    ``classical_cv`` is the chosen family's CV (the figure the decision compares with); ``params`` the
    classical decoder fitted on all calibration runs (the residual model is trained on top of it).
    """
    rule = (f"shipped only when its CV accuracy at {DECISION_TIME:g} s is strictly higher than CSP+LDA's and "
            f"its mean over {', '.join(f'{t:g}' for t in EVAL_TIMES)} s is not lower")
    if not enabled:
        return RecurrentOutcome({"tried": False, "shipped": False, "rule": rule,
                                 "why": "not tried: --no-recurrent"})
    if family != "csp_lda" or not isinstance(config, CspConfig) or not isinstance(params, CspLdaParams):
        return RecurrentOutcome({"tried": False, "shipped": False, "rule": rule,
                                 "why": f"not tried: the chosen family is {family}; the residual GRU builds on "
                                        "CSP+LDA"})
    try:
        from bci_stream.train.classical.residual import DEFAULT_RESIDUAL, train_residual
        from bci_stream.train.classical.residual_cv import cross_validate_residual
    except ImportError as exc:  # torch missing: the classical model is shipped, and the report says why
        return RecurrentOutcome({"tried": False, "shipped": False, "rule": rule,
                                 "why": f"not tried: the residual GRU needs torch ({exc})"})
    rcfg = DEFAULT_RESIDUAL
    echo(f"recurrent: cross-validating the residual GRU ({rcfg.label()}) on the {len(folds)} folds")
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(folds), desc="CV csp_gru", unit="fold", leave=False)
    try:
        res = cross_validate_residual(prep, config, folds, rcfg, on_fold=(lambda i: bar.update(1)) if bar else None)
    finally:
        if bar is not None:
            bar.close()
    ship, why = decide(classical_cv, res.residual)
    r2 = res.residual.acc[DECISION_TIME]
    report = {"tried": True, "shipped": ship, "rule": rule, "why": why, "family": "csp_gru",
              "config": rcfg.as_dict() | {"label": rcfg.label()},
              "cv_acc": _acc(res.residual), "cv_n_trials": res.residual.n_trials,
              "cv_recall_2s": res.residual.recall(prep.labels),  # per class [correct, trials] at 2 s
              "cv_per_fold_2s": [f[DECISION_TIME] for f in res.residual.per_fold],
              "classical_cv_acc": _acc(classical_cv), "classical_cv_acc_same_folds": _acc(res.classical),
              "folds": res.fold_info}
    if not ship:
        return RecurrentOutcome(report)
    final, info = train_residual(prep, all_trials(prep, range(len(prep.runs))), params, config, rcfg)
    report["final_training"] = {k: v for k, v in info.items() if k != "config"}
    if info.get("best_epoch") == 0:  # early stopping kept the zero read-out: the model would be CSP+LDA itself
        report["shipped"] = False
        report["why"] = (f"not shipped: CV favoured it ({why.removeprefix('shipped: ')}), but trained on all "
                         f"calibration trials its early stopping kept the initial weights (a zero residual), so "
                         f"it would be the CSP+LDA decoder at a higher cost")
        return RecurrentOutcome(report)
    from bci_stream.train.classical.calibration import wilson

    n = res.residual.n_trials
    metrics = {"cv_acc_2s": r2, "cv_acc": _acc(res.residual), "classical_cv_acc": _acc(classical_cv),
               "cv_acc_2s_ci95": list(wilson(res.residual.n_correct[DECISION_TIME], n))}
    return RecurrentOutcome(report, final, metrics)


__all__ = ["RecurrentOutcome", "decide", "recurrent_stage"]
