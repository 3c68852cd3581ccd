"""The calibration runs of one subject as the fitter sees them, with a cache of their preprocessed signals.

* :class:`Run`: one recording (raw ``[T, C]`` µV, channels, cue trials);
* :class:`Prepared`: the runs of one subject, and their preprocessed data per channel set, band and CAR
  (:func:`~.reference.preprocess`, computed once per combination);
* ``Selection`` (run index, trial indices) and :func:`all_trials`: which trials a fit or a test uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bci_stream.core.channels import match_channels
from bci_stream.dsp.preprocess import PreprocessingConfig
from bci_stream.train.classical.configs import ChannelSpec, Config
from bci_stream.train.classical.data import Trials, sensorimotor_channels
from bci_stream.train.classical.reference import preprocess


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


class Prepared:
    """Runs of one subject (same channels, same sfreq, same classes) and a cache of their preprocessed data."""

    def __init__(self, runs: Sequence[Run], labels: Sequence[str], *, notes: Sequence[str] = (),
                 left_out: Sequence[dict] = (), prints: Sequence[dict] = ()) -> None:
        if not runs:
            raise ValueError("runs must hold at least one Run, got none")
        self.prints = list(prints)  # each file's content print (.content_print), for the card's training.files_content
        self.notes = list(notes)  # what loading noticed (channels left out, implausible amplitudes), for reports
        # the trials loading left out as bad, per file: {"file", "n", "by_reason": {reason: {class: n}}} (.bad_spans)
        self.left_out = list(left_out)
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


__all__ = ["Prepared", "Run", "Selection", "all_trials"]
