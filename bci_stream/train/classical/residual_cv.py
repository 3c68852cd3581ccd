"""Cross-validate the residual GRU against the CSP+LDA it builds on, with the same folds and the same scoring.

Per fold: CSP+LDA is fitted on the fold's training trials with the given config (exactly as
:func:`~.cv.cross_validate` does), the residual GRU is trained on the same trials on top of it
(:func:`~.residual.train_residual`), and both decide each test trial by the argmax of their streaming output
at cue + t (each run streamed from its first sample). The two :class:`~.cv.CvResult` are directly
comparable with each other and with the classical family's CV in ``calibrate``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bci_stream.train.classical.configs import EVAL_TIMES, CspConfig
from bci_stream.train.classical.cv import CvResult, Fold
from bci_stream.train.classical.features import outputs_from_preprocessed
from bci_stream.train.classical.fit import fit_csp_lda
from bci_stream.train.classical.prepared import Prepared
from bci_stream.train.classical.residual import DEFAULT_RESIDUAL, ResidualConfig, train_residual
from bci_stream.train.classical.residual_ref import residual_outputs_from_preprocessed


@dataclass
class ResidualCv:
    """CV of CSP+LDA (``classical``) and of the residual GRU on top of it (``residual``), same folds."""

    classical: CvResult
    residual: CvResult
    fold_info: list[dict] = field(default_factory=list)


class _Tally:
    def __init__(self, eval_times: Sequence[float]) -> None:
        self.times = list(eval_times)
        self.correct = {t: 0 for t in self.times}
        self.total = 0
        self.per_fold: list[dict[float, float]] = []
        self._fc, self._ft = dict(self.correct), 0
        self.probs: list[np.ndarray] = []  # held-out probabilities [n, T, K] and classes, in fold order (recall)
        self.classes: list[np.ndarray] = []
        self.fold_sizes: list[int] = []

    def add(self, probs: np.ndarray, classes: np.ndarray) -> None:
        pred = probs.argmax(axis=-1)
        for j, t in enumerate(self.times):
            self._fc[t] += int((pred[:, j] == classes).sum())
        self._ft += len(classes)
        self.probs.append(probs)
        self.classes.append(classes)

    def end_fold(self) -> None:
        self.fold_sizes.append(self._ft)
        self.per_fold.append({t: self._fc[t] / max(self._ft, 1) for t in self.times})
        for t in self.times:
            self.correct[t] += self._fc[t]
        self.total += self._ft
        self._fc, self._ft = {t: 0 for t in self.times}, 0

    def result(self) -> CvResult:
        return CvResult(acc={t: self.correct[t] / max(self.total, 1) for t in self.times}, n_trials=self.total,
                        n_correct=dict(self.correct), per_fold=self.per_fold, eval_times=tuple(self.times),
                        probs=np.concatenate(self.probs) if self.probs else None,
                        classes=np.concatenate(self.classes) if self.classes else None, fold_sizes=self.fold_sizes)


def cross_validate_residual(prep: Prepared, cfg: CspConfig, folds: Sequence[Fold],
                            rcfg: ResidualConfig = DEFAULT_RESIDUAL, eval_times: Sequence[float] = EVAL_TIMES,
                            on_fold: Callable[[int], None] | None = None) -> ResidualCv:
    """CV of CSP+LDA (``cfg``) and of the residual GRU (``rcfg``) on ``folds`` (see the module docstring)."""
    if not isinstance(cfg, CspConfig):
        raise ValueError(f"cfg must be a CspConfig (the residual GRU builds on CSP+LDA), got {type(cfg).__name__}")
    _, _, u_runs = prep.filtered(cfg)
    classical, residual = _Tally(eval_times), _Tally(eval_times)
    offsets = np.round(np.asarray(eval_times) * prep.sfreq).astype(np.int64)
    infos = []
    for i, fold in enumerate(folds):
        csp = fit_csp_lda(prep, fold.train, cfg)
        rp, info = train_residual(prep, fold.train, csp, cfg, rcfg)
        infos.append({k: v for k, v in info.items() if k != "config"})
        for ri, tr in fold.test:
            run = prep.runs[ri]
            onsets, classes = run.trials.onsets[tr], run.trials.classes[tr]
            keep = onsets + int(offsets.max()) < run.n_times
            onsets, classes = onsets[keep], classes[keep]
            if not len(onsets):
                continue
            at = (onsets[:, None] + offsets[None, :]).ravel()
            for tally, probs in ((classical, outputs_from_preprocessed(csp, u_runs[ri], at)),
                                 (residual, residual_outputs_from_preprocessed(rp, u_runs[ri], at))):
                tally.add(probs.reshape(len(onsets), len(eval_times), -1), classes)
        classical.end_fold()
        residual.end_fold()
        if on_fold is not None:
            on_fold(i)
    return ResidualCv(classical.result(), residual.result(), infos)


__all__ = ["ResidualCv", "cross_validate_residual"]
