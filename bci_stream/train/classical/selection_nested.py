"""The honest CV figure of a decoder that ``bci-stream calibrate --no-average`` picked among candidates.

Picking the best of N candidates on the same CV folds that score it inflates the winner's CV accuracy: on labels
at chance, the best of calibrate's 16 candidates (and then the best of three families) is often above the
single-test binomial threshold. So the chance check of a picked decoder uses the accuracy of the *selection*
itself, measured by nested CV (:func:`nested_selection`): for every outer fold (calibrate's own folds), the whole
selection (each family's candidates by ``candidate_rule``, then the family by ``family_rule``, the combined
decoder among the options when it is considered) is re-run by an inner CV on the outer fold's training trials
only (:func:`inner_folds`: the folds calibrate would make on them); the outer fold's test trials are then
decided by the pick's held-out outputs, which calibrate's own CV of every candidate already holds (the
candidate fitted on the outer fold's training trials). Every trial is so decided by a decoder chosen without
its label: the count of correct decisions is a single test against chance, as for a decoder that was not
picked. It estimates the selection with one run fewer than the shipped decoder had, so it is slightly
pessimistic, where the picked candidate's own CV is optimistic.

The inner CV fits each candidate once per distinct training set (:func:`inner_folds` of two outer folds share
them with leave-one-run-out); with three runs it costs about twice calibrate's CV of the candidates. With one
run (trial-wise k-fold outside and inside) no fit is shared: about k times that CV.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bci_stream.train.classical.configs import DECISION_TIME, Config, config_label
from bci_stream.train.classical.cv import CvResult, Fold, cross_validate
from bci_stream.train.classical.fit import fit
from bci_stream.train.classical.prepared import Prepared, Selection
from bci_stream.train.classical.selection import RULE_TIMES, RULES, best_index

INNER_K = 5  # as calibrate's trial-wise k-fold (cv.make_folds)


def inner_folds(prep: Prepared, train: Selection, k_within: int = INNER_K, seed: int = 0) -> list[Fold]:
    """The folds :func:`.cv.make_folds` would make on the trials ``train`` alone (as selections of ``prep``).

    Whole runs: leave-one-run-out over them when each fold keeps :data:`.cv.MIN_FOLD_TRIALS` trials of each
    class, else (one run, or too few) a stratified trial-wise k-fold over the trials of ``train``.
    """
    from bci_stream.train.classical.cv import MIN_FOLD_TRIALS

    runs = [ri for ri, _ in train]
    whole = all(len(tr) == len(prep.runs[ri].trials) for ri, tr in train)
    n_classes = len(prep.labels)

    def classes(sel: Selection) -> np.ndarray:
        return np.concatenate([prep.runs[ri].trials.classes[tr] for ri, tr in sel] or [np.zeros(0, np.int64)])

    if whole and len(runs) >= 2:
        folds = [Fold([(ri, tr) for ri, tr in train if ri != rj], [(ri, tr) for ri, tr in train if ri == rj])
                 for rj in runs]
        if min(np.bincount(classes(f.train), minlength=n_classes).min() for f in folds) >= MIN_FOLD_TRIALS:
            return folds
    from sklearn.model_selection import StratifiedKFold

    pairs = [(ri, int(ti)) for ri, tr in train for ti in tr]
    y = classes(train)
    k = max(int(min(k_within, np.bincount(y, minlength=n_classes).min())), 2)
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)

    def selection(rows: np.ndarray) -> Selection:
        return [(ri, np.array([pairs[j][1] for j in rows if pairs[j][0] == ri], dtype=np.int64))
                for ri in runs if any(pairs[j][0] == ri for j in rows)]

    return [Fold(selection(tr), selection(te)) for tr, te in skf.split(np.zeros(len(y)), y)]


@dataclass
class NestedResult:
    """The selection's held-out decisions: ``n_correct`` of ``n_trials`` at the decision time, and each outer
    fold's pick (``{"fold", "family", "config", "n_trials", "n_correct"}``)."""

    n_correct: int
    n_trials: int
    n_compared: int  # the decoders the selection compares (candidates of every family, plus the combined one)
    picks: list[dict] = field(default_factory=list)

    @property
    def acc(self) -> float:
        return self.n_correct / max(self.n_trials, 1)


def _cached_fit() -> Callable:
    """:func:`.fit.fit`, computed once per (config, training trials): two outer folds' inner folds share them."""
    memo: dict = {}

    def fit_once(prep: Prepared, sel: Selection, cfg: Config):
        key = (config_label(cfg), repr(cfg), tuple((ri, tuple(int(t) for t in tr)) for ri, tr in sel))
        if key not in memo:
            memo[key] = fit(prep, sel, cfg)
        return memo[key]
    return fit_once


def _fold_rows(cv: CvResult, j: int) -> slice:
    start = sum(cv.fold_sizes[:j])
    return slice(start, start + cv.fold_sizes[j])


def nested_selection(prep: Prepared, folds: Sequence[Fold], configs: Mapping[str, Sequence[Config]],
                     outer: Mapping[str, Sequence[CvResult]], pick_family: Callable[[dict[str, CvResult]], str],
                     combine: Callable[[CvResult, CvResult], CvResult] | None, candidate_rule: str,
                     progress: bool = False) -> NestedResult:
    """Nested CV of calibrate's selection (see the module docstring).

    Parameters
    ----------
    configs, outer
        Per family (``csp_lda``, ``riemann``): its candidates, and calibrate's CV of each on ``folds`` (same order).
    pick_family
        Calibrate's family rule: the chosen family's name from ``{family: CV result}`` (the families' picks, and
        the combined decoder's under its family name when ``combine`` is given).
    combine
        The combined decoder's CV from the two picks' (``csp_lda``'s, ``riemann``'s), or None when not considered.
    candidate_rule
        The rule of :data:`.selection.RULES` that picks a candidate within a family (ties: the earlier).
    """
    fit_once = _cached_fit()
    n_correct = n_trials = 0
    picks = []
    it = range(len(folds))
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="nested CV of the choice", unit="fold", leave=False)
    for j in it:
        inner = inner_folds(prep, folds[j].train)
        inner_cv, outer_cv, chosen_cfg = {}, {}, {}
        for fam, cands in configs.items():
            cvs = [cross_validate(prep, cfg, inner, RULE_TIMES, fit_fn=fit_once) for cfg in cands]
            i = best_index(cvs, candidate_rule)
            inner_cv[fam], outer_cv[fam], chosen_cfg[fam] = cvs[i], outer[fam][i], cands[i]
        if combine is not None:
            from bci_stream.train.classical.combined import FAMILY as COMBINED

            inner_cv[COMBINED] = combine(inner_cv["csp_lda"], inner_cv["riemann"])
            outer_cv[COMBINED] = combine(outer_cv["csp_lda"], outer_cv["riemann"])
            chosen_cfg[COMBINED] = None
        fam = pick_family(inner_cv)
        cv = outer_cv[fam]
        rows = _fold_rows(cv, j)
        pred = cv.probs[rows, [round(t, 6) for t in cv.eval_times].index(round(DECISION_TIME, 6))].argmax(axis=-1)
        hit = int((pred == cv.classes[rows]).sum())
        n_correct += hit
        n_trials += len(pred)
        label = (f"{config_label(chosen_cfg['csp_lda'])} + {config_label(chosen_cfg['riemann'])}"
                 if chosen_cfg[fam] is None else config_label(chosen_cfg[fam]))
        picks.append({"fold": j, "family": fam, "config": label, "n_trials": len(pred), "n_correct": hit})
    n_compared = sum(len(c) for c in configs.values()) + (1 if combine is not None else 0)
    return NestedResult(n_correct, n_trials, n_compared, picks)





def pick_selection(nested: NestedResult, picked_acc: float, picked_ci: Sequence[float], gru_shipped: bool,
                   n_total: int, p0: float, alpha: float = 0.05) -> dict:
    """The ``selection`` of :func:`.calibration_report.chance_check` for a picked decoder, with the figure it checks
    (``"acc"``, ``"ci95"``).

    A classical pick is checked on the nested CV of the choice (``method`` ``nested_cv``). The residual GRU is
    shipped instead of the picked CSP+LDA only when its CV on the same folds beats it: one more comparison, whose
    nested CV would retrain the GRU in every inner fold (far too slow), so its own CV accuracy is checked against
    the Bonferroni threshold for every decoder compared (``method`` ``bonferroni``: the binomial threshold at
    ``alpha / n_compared`` against ``p0``, the majority class's share, over ``n_total`` trials).
    """
    from bci_stream.train.classical.calibration import chance_threshold, wilson

    base = {"picked_cv_acc": float(picked_acc), "picked_ci95": [float(v) for v in picked_ci],
            "nested_cv_acc": nested.acc, "nested_correct": nested.n_correct, "nested_n_trials": nested.n_trials,
            "picks": nested.picks}
    if not gru_shipped:
        return base | {"n_compared": nested.n_compared, "method": "nested_cv", "figure": "nested CV accuracy",
                       "how": "the check uses the nested CV of that choice (each fold's test trials decided by the "
                              "decoder the same choice makes on the other folds' trials alone)",
                       "acc": nested.acc, "ci95": list(wilson(nested.n_correct, nested.n_trials))}
    n = nested.n_compared + 1
    return base | {"n_compared": n, "method": "bonferroni", "figure": "CV accuracy",
                   "how": f"the residual GRU was shipped because its CV beat the picked CSP+LDA's; the check uses the "
                          f"binomial threshold at p < {alpha:g}/{n} (Bonferroni, for the {n} decoders compared)",
                   "threshold": chance_threshold(n_total, p0, alpha / n), "acc": float(picked_acc),
                   "ci95": [float(v) for v in picked_ci]}


__all__ = ["INNER_K", "NestedResult", "inner_folds", "nested_selection", "pick_selection"]
