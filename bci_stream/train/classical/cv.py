"""Score the streaming classical decoders by cross-validated trial decisions.

Scoring is trial accuracy: the decision for a trial at ``t`` s after its cue is the argmax of the
streaming output at sample ``onset + round(t sfreq)`` (each run streamed from its first sample).

* :func:`make_folds`: leave-one-run-out, or a stratified trial-wise k-fold (single run, or a class
  missing when a run is left out);
* :func:`cross_validate` → :class:`CvResult`; :func:`predict_prepared`: the outputs on cached data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.train.classical.configs import DECISION_TIME, EVAL_TIMES, Config
from bci_stream.train.classical.features import outputs_from_preprocessed
from bci_stream.train.classical.fit import fit
from bci_stream.train.classical.params import CspLdaParams, RiemannParams
from bci_stream.train.classical.prepared import Prepared, Selection, all_trials


def predict_prepared(prep: Prepared, params: CspLdaParams | RiemannParams, cfg: Config, run_idx: int,
                     at: np.ndarray) -> np.ndarray:
    """Class probabilities ``[len(at), K]`` of ``params`` on run ``run_idx`` (from its first sample) at ``at``.

    Uses the cached preprocessed data of ``cfg`` (same channels/band/CAR as ``params``); equals
    :func:`.features.outputs_at` on the raw run.
    """
    _, _, u_runs = prep.filtered(cfg)
    return outputs_from_preprocessed(params, u_runs[run_idx], at)


@dataclass
class Fold:
    """One split: the trials a fit uses, and the trials it is tested on."""

    train: Selection
    test: Selection


MIN_FOLD_TRIALS = 3
"""Leave-one-run-out is used when every fold trains on at least this many trials of each class: what the trial-wise
k-fold guarantees (``k`` at most the smallest class's count, 4 or more by calibrate's rule, so each training part
keeps 3 of 4). A run holding most of a class's trials would leave a fold 1 trial a class (LDA cannot fit 2 samples
of 2 classes) or 2 (a fit on noise)."""


def make_folds(prep: Prepared, k_within: int = 5, seed: int = 0) -> tuple[list[Fold], str]:
    """Leave-one-run-out folds (two runs or more, each fold training on :data:`MIN_FOLD_TRIALS` trials of each
    class or more), else a stratified trial-wise k-fold over all trials.

    Returns the folds and a description of the scheme, for reports.
    """
    n_runs = len(prep.runs)
    n_classes = len(prep.labels)
    if n_runs >= 2:
        folds = [Fold(all_trials(prep, [i for i in range(n_runs) if i != j]), all_trials(prep, [j]))
                 for j in range(n_runs)]
        fewest = [np.bincount(np.concatenate([prep.runs[ri].trials.classes[tr] for ri, tr in f.train]),
                              minlength=n_classes).min() for f in folds]
        if min(fewest) >= MIN_FOLD_TRIALS:
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
    what = "single run" if n_runs == 1 else (
        f"{n_runs} runs, but leaving run {int(np.argmin(fewest)) + 1} out would leave "
        + ("no trial of a class" if min(fewest) == 0 else f"{min(fewest)} trial(s) of a class")
        + f" to train on (fewer than {MIN_FOLD_TRIALS})")
    return folds, (f"{what}: stratified {k}-fold over trials (the running estimators still run over "
                   f"each whole run; filters and classifier are fitted on the training trials only, and the initial "
                   f"power or covariance and the clip bounds on the run without the test trials)")


def scheme_warning(prep: Prepared, scheme: str) -> str | None:
    """What the CV scheme cannot show, in words (None for leave-one-run-out over runs that each hold the same
    classes): runs that each hold one class only confound class with run (drift, electrode contact, the session's
    state), so a trial-wise k-fold can score near 1.0 what a new run scores at chance; otherwise, trials of one run on
    both sides of a fold share its session, so the figures may be above a new session's. Leave-one-run-out over runs
    of different classes (EEGMMIDB's hands runs and feet runs) confounds them partly (audit s45: left/right/feet on
    S002's four runs scored 0.21 in CV at 2 s, chance 0.34, and 0.46 on held-out runs)."""
    held = [sorted({prep.labels[c] for c in r.trials.classes}) for r in prep.runs]
    runs = "; ".join(f"{Path(r.source).name or f'run {i + 1}'}: {', '.join(h) or 'none'}"
                     for i, (r, h) in enumerate(zip(prep.runs, held)))
    if scheme.startswith("leave-one-run-out"):
        if len({tuple(h) for h in held}) == 1:
            return None
        return (f"the runs hold different classes ({runs}): class and run are partly confounded, so the decoder may "
                "learn which run a trial is from (drift, electrode contact, the session's state) rather than its "
                "class, and each run left out is scored by a decoder fitted on runs of other classes: the CV figures "
                "may be far below (or above) chance for reasons of the runs, not the classes; record runs that each "
                "mix all the classes (cued in random order)")
    if len(prep.runs) >= 2 and all(len(h) <= 1 for h in held):
        return (f"every run holds trials of one class only ({runs}): class and run are confounded, so the CV "
                "figures cannot tell what separates the classes from what separates the runs (drift, electrode "
                "contact, the session's state) and may be near 1.0 where a new run scores at chance; record runs "
                "that each mix the classes (cued in random order) before relying on this model")
    kfold = (f"CV is a trial-wise stratified k-fold ({scheme.partition(':')[0]}), not leave-one-run-out: a fold's "
             "test trials share their run with training trials, so the figures may overestimate accuracy on a new "
             "session")
    if len(prep.runs) >= 2 and len({tuple(h) for h in held}) > 1:  # (audit s68cal F2: said for leave-one-run-out only)
        return (f"{kfold}; and the runs hold different classes ({runs}): class and run are partly confounded, so the "
                "decoder may learn which run a trial is from (drift, electrode contact, the session's state) rather "
                "than its class, and the k-fold scores that as accuracy; record runs that each mix all the classes "
                "(cued in random order)")
    return kfold


@dataclass
class CvResult:
    """Cross-validated trial decisions: ``acc[t]`` per time after cue, and per-trial records.

    ``probs[i, j, k]`` is the held-out probability of class ``k`` for test trial ``i`` at ``eval_times[j]``
    (trials in fold order), ``classes[i]`` its true class.
    """

    acc: dict[float, float]
    n_trials: int
    n_correct: dict[float, int]
    per_fold: list[dict[float, float]] = field(default_factory=list)
    eval_times: tuple[float, ...] = EVAL_TIMES
    probs: np.ndarray | None = None
    classes: np.ndarray | None = None
    fold_sizes: list[int] = field(default_factory=list)  # test trials per fold (rows of probs, in order)

    def at(self, t: float = DECISION_TIME) -> float:
        return self.acc[t]

    def recall(self, labels: Sequence[str], t: float = DECISION_TIME) -> dict[str, list[int]]:
        """Per class, ``[correct, trials]`` of the held-out decisions at ``t`` s (empty without ``probs``): an
        accuracy above chance may hide a class the decoder never gets right."""
        if self.probs is None or self.classes is None or t not in self.eval_times:
            return {}
        pred = self.probs[:, list(self.eval_times).index(t)].argmax(-1)
        return {lab: [int(np.sum((pred == k) & (self.classes == k))), int(np.sum(self.classes == k))]
                for k, lab in enumerate(labels)}

    def counts(self) -> dict[str, int]:
        """Correct trials per decision time, keyed as the studies' JSON rows are (``"2"``, ``"0.5"``)."""
        return {f"{t:g}": self.n_correct[t] for t in self.eval_times}


def cv_with_probs(base: CvResult, probs: np.ndarray) -> CvResult:
    """``base`` (its trials, folds and decision times) with other held-out probabilities ``[N, T, K]``: the
    accuracies recounted, overall and per fold (how combined and averaged decoders are scored without a refit)."""
    hit = probs.argmax(axis=-1) == base.classes[:, None]  # [N, T]
    n = len(base.classes)
    correct = {t: int(hit[:, j].sum()) for j, t in enumerate(base.eval_times)}
    per_fold, start = [], 0
    for size in base.fold_sizes:
        per_fold.append({t: float(hit[start:start + size, j].mean()) if size else 0.0
                         for j, t in enumerate(base.eval_times)})
        start += size
    return CvResult(acc={t: c / max(n, 1) for t, c in correct.items()}, n_trials=n, n_correct=correct,
                    per_fold=per_fold, eval_times=base.eval_times, probs=probs, classes=base.classes,
                    fold_sizes=list(base.fold_sizes))


def cross_validate(prep: Prepared, cfg: Any, folds: Sequence[Fold], eval_times: Sequence[float] = EVAL_TIMES, *,
                   fit_fn: Callable[[Prepared, Selection, Any], Any] = fit,
                   predict_fn: Callable[[Prepared, Any, Any, int, np.ndarray], np.ndarray] = predict_prepared,
                   ) -> CvResult:
    """Fit on each fold's training trials, decide each test trial at ``eval_times`` after its cue.

    ``fit_fn(prep, selection, cfg)`` and ``predict_fn(prep, params, cfg, run_idx, at)`` (default: the classical
    families' :func:`.fit.fit` and :func:`predict_prepared`) let other decoders of the same data be scored the
    same way (e.g. :mod:`.adapt`).
    """
    correct = {t: 0 for t in eval_times}
    total = 0
    per_fold, fold_sizes = [], []
    all_probs, all_classes = [], []
    for fold in folds:
        params = fit_fn(prep, fold.train, cfg)
        f_correct = {t: 0 for t in eval_times}
        f_total = 0
        for ri, tr in fold.test:
            run = prep.runs[ri]
            onsets, classes = run.trials.onsets[tr], run.trials.classes[tr]
            keep = onsets + int(round(max(eval_times) * prep.sfreq)) < run.n_times
            onsets, classes = onsets[keep], classes[keep]
            at = (onsets[:, None] + np.round(np.asarray(eval_times) * prep.sfreq).astype(np.int64)[None, :])
            probs = predict_fn(prep, params, cfg, ri, at.ravel()).reshape(len(onsets), len(eval_times), -1)
            pred = probs.argmax(axis=-1)
            all_probs.append(probs)
            all_classes.append(classes)
            for j, t in enumerate(eval_times):
                f_correct[t] += int((pred[:, j] == classes).sum())
            f_total += len(onsets)
        per_fold.append({t: f_correct[t] / max(f_total, 1) for t in eval_times})
        fold_sizes.append(f_total)
        for t in eval_times:
            correct[t] += f_correct[t]
        total += f_total
    k = len(prep.labels)
    return CvResult(acc={t: correct[t] / max(total, 1) for t in eval_times}, n_trials=total, n_correct=correct,
                    per_fold=per_fold, eval_times=tuple(eval_times),
                    probs=np.concatenate(all_probs) if all_probs else np.zeros((0, len(eval_times), k)),
                    classes=np.concatenate(all_classes) if all_classes else np.zeros(0, dtype=np.int64),
                    fold_sizes=fold_sizes)


__all__ = ["CvResult", "Fold", "cross_validate", "cv_with_probs", "make_folds", "predict_prepared"]
