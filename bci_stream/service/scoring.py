"""Live trial scoring: each cue marker against the decoder's output at the card's decision time.

A cue whose marker value maps to an output label (``marker_map``) is a trial of that class. It is decided
at the first output sample whose timestamp is at or after ``cue time + decision_time_s`` (both on this
host's clock): the trial is correct when the argmax of that output is the cue's class. Markers and
samples arrive on separate LSL inlets, in any order and chunking: a cue whose decision sample has not
been decoded yet waits in a bounded pending list; a cue that arrives after its decision sample is decided
from a bounded history of recent outputs (timestamp and argmax per sample, preallocated). A cue whose
decision sample is out of that history, or lies more than ``max_lag_s`` after the decision time (a gap in
the data), is counted as ``missed``, never scored.

The configuration (:func:`scoring_config`) comes from the decoder's ``options.markers``, else the card's
``scoring`` field, else its ``training.label_map``, else marker values equal to output labels.
"""

from __future__ import annotations

import bisect
import collections
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bci_stream.core.card import ModelCard
from bci_stream.core.errors import BciStreamError
from bci_stream.core.spec import MarkerOptions
from bci_stream.core.stats import wilson

DEFAULT_DECISION_TIME_S = 2.0
MAX_PENDING = 256  #: cues waiting for their decision sample; beyond, the oldest is counted as missed
MAX_UNMAPPED_VALUES = 20  #: distinct unmapped marker values listed in status (all are counted)


class ScoringError(BciStreamError, ValueError):
    """The decoder's ``options.markers`` cannot score this model (the message names the field)."""


@dataclass(frozen=True)
class ScoringConfig:
    """What is scored: ``marker_map`` (value -> output label or None), ``decision_time_s``, and where they came from."""

    marker_map: dict[str, str | None]
    decision_time_s: float
    source: str


def scoring_config(card: ModelCard, options: MarkerOptions) -> tuple[ScoringConfig | None, str | None]:
    """The scoring of ``card``'s outputs under ``options``: ``(config, None)``, or ``(None, why it is off)``.

    Raises
    ------
    ScoringError
        ``options.marker_map`` was given but the model's outputs are not class probabilities, or it maps a
        marker to a class that is not an output label.
    """
    labels = list(card.output.labels)
    categorical = card.output.kind == "categorical"
    scoring = getattr(card, "scoring", None)
    t_dec = options.decision_time_s or (scoring.decision_time_s if scoring is not None else DEFAULT_DECISION_TIME_S)
    if options.marker_map is not None:
        if not categorical:
            raise ScoringError(f"options.markers.marker_map needs a model with class outputs; model {card.ref} "
                               f"outputs {card.output.kind!r} values")
        bad = sorted({c for c in options.marker_map.values() if c is not None} - set(labels))
        if bad:
            raise ScoringError(f"options.markers.marker_map must map markers to output labels of model {card.ref} "
                               f"{labels}, got {bad}")
        return ScoringConfig(dict(options.marker_map), t_dec, "options"), None
    if not categorical:
        return None, f"model {card.ref} outputs {card.output.kind!r} values, not class probabilities"
    if scoring is not None:
        return ScoringConfig(dict(scoring.marker_map), t_dec, "card.scoring"), None
    label_map = card.training.get("label_map") if isinstance(card.training, dict) else None
    if isinstance(label_map, dict) and label_map:
        bad = sorted({str(c) for c in label_map.values() if c is not None} - set(labels))
        if bad:
            return None, f"the card's training.label_map names classes {bad} that are not output labels {labels}"
        return ScoringConfig({str(k): v for k, v in label_map.items()}, t_dec, "card.training.label_map"), None
    return ScoringConfig({lab: lab for lab in labels}, t_dec, "output labels"), None


class LiveScorer:
    """Scores cues against decoded outputs (see the module docstring). Not thread-safe: one owner.

    Parameters
    ----------
    config
        The marker map and decision time.
    labels
        The model's output labels (column ``k`` of ``y`` is ``labels[k]``).
    sfreq
        The output rate, to size the history.
    history_s
        Seconds of outputs kept to decide cues that arrive after their decision sample.
    keep_trials
        Most recent trials listed by :meth:`describe`.
    max_lag_s
        A decision sample later than ``cue + decision_time_s + max_lag_s`` means no output at the decision
        time (a gap): the cue is missed.
    """

    def __init__(self, config: ScoringConfig, labels: list[str], sfreq: float, *, history_s: float = 30.0,
                 keep_trials: int = 20, max_lag_s: float = 0.5) -> None:
        if sfreq <= 0 or not math.isfinite(sfreq):
            raise ValueError(f"sfreq must be a finite rate > 0, got {sfreq}")
        self.config = config
        self.labels = list(labels)
        self.class_of = {v: self.labels.index(c) for v, c in config.marker_map.items() if c is not None}
        self.max_lag_s = max_lag_s
        self.capacity = max(64, math.ceil((history_s + config.decision_time_s) * sfreq))
        self._ts = np.zeros(self.capacity)
        self._cls = np.zeros(self.capacity, dtype=np.int32)
        self._written = 0
        self.pending: list[tuple[float, float, str, int]] = []  # (decision time, cue time, value, class), sorted
        self.trials = self.correct = self.missed = 0
        self.received = self.mapped = self.unmapped = 0
        self.unmapped_values: dict[str, int] = {}
        self.per_class = {lab: [0, 0] for lab in self.labels if lab in set(config.marker_map.values())}
        self.last: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep_trials)

    # -- the decoder's outputs (per chunk) ---------------------------------------------------------------

    def outputs(self, ts: np.ndarray, y: np.ndarray) -> None:
        """Note a chunk of outputs ``y [n, K]`` with their timestamps (this host's clock); decide due cues."""
        n = len(ts)
        if n == 0:
            return
        if n > self.capacity:
            ts, y = ts[n - self.capacity:], y[n - self.capacity:]
            self._written += n - self.capacity
            n = self.capacity
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        cls = np.argmax(y, axis=1)
        self._ts[start:start + first] = ts[:first]
        self._cls[start:start + first] = cls[:first]
        if first < n:
            self._ts[:n - first] = ts[first:]
            self._cls[:n - first] = cls[first:]
        self._written += n
        if self.pending and self.pending[0][0] <= float(ts[-1]):
            self._decide_due(float(ts[-1]))

    def _decide_due(self, newest: float) -> None:
        while self.pending and self.pending[0][0] <= newest:
            t_dec, t_cue, value, k = self.pending.pop(0)
            self._decide(t_dec, t_cue, value, k)

    def _history(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """Kept outputs oldest first: timestamps, argmax classes, and whether older ones were overwritten."""
        n = min(self._written, self.capacity)
        if self._written <= self.capacity:
            return self._ts[:n], self._cls[:n], False
        idx = (np.arange(self._written - self.capacity, self._written)) % self.capacity
        return self._ts[idx], self._cls[idx], True

    def _decide(self, t_dec: float, t_cue: float, value: str, k: int) -> None:
        ts, cls, wrapped = self._history()
        hits = np.flatnonzero(ts >= t_dec)
        if not len(hits) or (wrapped and hits[0] == 0) or ts[hits[0]] - t_dec > self.max_lag_s:
            self.missed += 1
            return
        i = int(hits[0])
        predicted = int(cls[i])
        ok = predicted == k
        self.trials += 1
        self.correct += ok
        row = self.per_class[self.labels[k]]
        row[0] += 1
        row[1] += ok
        self.last.append({"value": value, "class": self.labels[k], "cue_t": t_cue, "decision_t": float(ts[i]),
                          "predicted": self.labels[predicted], "correct": bool(ok)})

    # -- markers -----------------------------------------------------------------------------------------

    def marker(self, value: str, t: float) -> str | None:
        """A marker at ``t`` (this host's clock); returns the class it cues, or None when it is not a trial."""
        self.received += 1
        k = self.class_of.get(value)
        if k is None:
            self.unmapped += 1
            if value in self.unmapped_values or len(self.unmapped_values) < MAX_UNMAPPED_VALUES:
                self.unmapped_values[value] = self.unmapped_values.get(value, 0) + 1
            return None
        self.mapped += 1
        t_dec = t + self.config.decision_time_s
        if self._written and float(self._ts[(self._written - 1) % self.capacity]) >= t_dec:
            self._decide(t_dec, t, value, k)  # arrived after its decision sample: decided from the history
        else:
            bisect.insort(self.pending, (t_dec, t, value, k))
            if len(self.pending) > MAX_PENDING:
                self.pending.pop(0)
                self.missed += 1
        return self.labels[k]

    def describe(self) -> dict[str, Any]:
        """The running score, as reported in status (``scoring``)."""
        n, k = self.trials, self.correct
        ci = wilson(k, n)
        return {
            "marker_map": dict(self.config.marker_map), "decision_time_s": self.config.decision_time_s,
            "source": self.config.source, "trials": n, "correct": k, "accuracy": k / n if n else None,
            "ci95": None if ci is None else list(ci),
            "per_class": {lab: {"trials": t, "correct": c} for lab, (t, c) in self.per_class.items()},
            "last": list(self.last), "pending": len(self.pending), "missed": self.missed,
            "markers_received": self.received, "markers_mapped": self.mapped, "markers_unmapped": self.unmapped,
            "unmapped_values": dict(self.unmapped_values),
        }
