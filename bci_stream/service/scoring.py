"""Live trial scoring: each cue marker against the decoder's output at the card's decision time.

A cue whose marker value maps to an output label (``marker_map``) is a trial of that class. It is decided at the output
``round(decision_time_s * sfreq)`` samples after the first output whose timestamp is at or after the cue's (both on this
host's clock; a cue before the decoder's first output: after the cue, at the nominal rate): the trial is correct when
the argmax of that output is the cue's class, the argmax taken over the classes the marker map scores (a 3-class net's
"rest" output does not decide a fists vs feet trial, as in the card's metrics and ``evaluate``; all outputs when the map
scores fewer than two). Counting samples at the stream's nominal rate, not seconds of timestamps, keeps the decision
where the model was calibrated when a recording is replayed faster than real time (``replay --speed 3``), and is the
same sample in real time. Markers and samples arrive on separate LSL inlets, in any order and chunking: a cue whose
decision sample has not been decoded yet waits in a bounded pending list; a cue that arrives after its decision sample
is decided from a bounded history of recent outputs (timestamp and argmax per sample, preallocated:
``options.markers.history_s`` of samples at the nominal rate, so a replay S times faster than real time needs S times as
many seconds for the same wall-time margin). A cue whose first output is out of that history or more than ``max_lag_s``
after it, or whose outputs up to the decision sample span more than ``decision_time_s + max_lag_s`` (a gap in the data),
is counted as ``missed``, never scored. The decision sample is counted in input samples (seq): with ``nan_policy:
reject`` the rejected samples have no output, and a cue is decided at the first kept output at or after its decision
sample, or ``missed`` when more than ``max_lag_s`` of samples from there were rejected, at any replay speed. A cue whose
decision output was decoded in another state epoch than its first output (a model swap, a reset, a state restore or a
gap-policy reset between them) is counted as ``interrupted``, never scored: its decision would not be the model's that
saw the cue. Except a reset at the trial's start: a reset or state restore (the API's, :meth:`LiveScorer.epoch_started`)
whose first input sample is at most ``reset_grace_s`` of samples after the cue's first output
(``options.markers.reset_grace_s``, default :data:`RESET_GRACE_S`), with no other change of state from there to the
decision, starts the trial: it is scored (counted in ``reset_at_start``), as in a protocol that resets the decoder on
each cue (the client's reset lands some samples after the cue: the marker reaches it late, the call takes time). After a
hot swap the scoring follows the new model (:mod:`.scoring_swap`).

The configuration (:func:`scoring_config`) comes from the decoder's ``options.markers``, else the card's
``scoring`` field, else its ``training.label_map``, else marker values equal to output labels.
"""

from __future__ import annotations

import bisect
import collections
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bci_stream.core.card import ModelCard
from bci_stream.core.errors import BciStreamError
from bci_stream.core.spec import MarkerOptions
from bci_stream.core.stats import wilson
from bci_stream.io.reader_flags import cue_reading_note, trained_reader
from bci_stream.service.scoring_notes import MAX_HISTORY_SAMPLES, history_refusal, map_warning  # (also from here)

DEFAULT_DECISION_TIME_S = 2.0
MAX_PENDING = 256  #: cues waiting for their decision sample; beyond, the oldest is counted as missed
MAX_UNMAPPED_VALUES = 20  #: distinct unmapped marker values listed in status (all are counted)
#: A reset or restore this soon after a cue's first output (in samples at the nominal rate) starts the trial, which is
#: then scored, not ``interrupted``: a client that resets on each cue reacts to the marker tens of ms late. The default
#: of ``options.markers.reset_grace_s`` (given there, in core/spec.py).
RESET_GRACE_S: float = MarkerOptions.model_fields["reset_grace_s"].default
MAX_STARTS = 256  #: resets and restores remembered (by state epoch) for the rule above



class ScoringError(BciStreamError, ValueError):
    """The decoder's ``options.markers`` cannot score this model (the message names the field)."""


@dataclass(frozen=True)
class ScoringConfig:
    """What is scored: ``marker_map`` (value -> output label or None), ``decision_time_s``, where they came from
    (``source``: ``options``, ``card.scoring``, ...) and the card they were taken for (``model``: name@version)."""

    marker_map: dict[str, str | None]
    decision_time_s: float
    source: str
    model: str | None = None
    reset_grace_s: float = RESET_GRACE_S  # options.markers.reset_grace_s (module docstring)
    #: how the card's cues were read when they were read with reader options (status ``scoring.note``), else None
    note: str | None = None


def scoring_config(card: ModelCard, options: MarkerOptions) -> tuple[ScoringConfig | None, str | None]:
    """The scoring of ``card``'s outputs under ``options``: ``(config, None)``, or ``(None, why it is off)``. The
    config's ``note`` says when the card's cues were read with reader options (``[data.reader] type_state``,
    ``calibrate --marker-stream``: a replay of the file without them sends other markers;
    :func:`~bci_stream.io.reader_flags.cue_reading_note`).

    Raises
    ------
    ScoringError
        ``options.marker_map`` was given but the model's outputs are not class probabilities, or it maps a
        marker to a class that is not an output label.
    """
    config, why = _scoring_config(card, options)
    if config is None:
        return None, why
    return replace(config, note=cue_reading_note(trained_reader(card.training))), None


def _scoring_config(card: ModelCard, options: MarkerOptions) -> tuple[ScoringConfig | None, str | None]:
    """:func:`scoring_config` without the note."""
    labels = list(card.output.labels)
    categorical = card.output.kind == "categorical"
    scoring = getattr(card, "scoring", None)
    t_dec = options.decision_time_s or (scoring.decision_time_s if scoring is not None else DEFAULT_DECISION_TIME_S)
    grace = options.reset_grace_s
    if options.marker_map is not None:
        if not categorical:
            raise ScoringError(f"options.markers.marker_map needs a model with class outputs; model {card.ref} "
                               f"outputs {card.output.kind!r} values")
        bad = sorted({c for c in options.marker_map.values() if c is not None} - set(labels))
        if bad:
            raise ScoringError(f"options.markers.marker_map must map markers to output labels of model {card.ref} "
                               f"{labels}, got {bad}")
        return ScoringConfig(dict(options.marker_map), t_dec, "options", card.ref, grace), None
    if not categorical:
        return None, f"model {card.ref} outputs {card.output.kind!r} values, not class probabilities"
    if scoring is not None:
        return ScoringConfig(dict(scoring.marker_map), t_dec, "card.scoring", card.ref, grace), None
    label_map = card.training.get("label_map") if isinstance(card.training, dict) else None
    if isinstance(label_map, dict) and label_map:
        bad = sorted({str(c) for c in label_map.values() if c is not None} - set(labels))
        if bad:
            return None, f"the card's training.label_map names classes {bad} that are not output labels {labels}"
        return (ScoringConfig({str(k): v for k, v in label_map.items()}, t_dec, "card.training.label_map", card.ref,
                              grace),
                None)
    return ScoringConfig({lab: lab for lab in labels}, t_dec, "output labels", card.ref, grace), None


class LiveScorer:
    """Scores cues against decoded outputs (see the module docstring). Not thread-safe: one owner.

    Parameters
    ----------
    config, labels
        The marker map and decision time; the model's output labels (column ``k`` of ``y`` is ``labels[k]``).
    sfreq
        The stream's nominal rate: the decision is ``round(decision_time_s * sfreq)`` samples after the cue.
    history_s
        Seconds of outputs kept to decide cues that arrive after their decision sample (``options.markers.history_s``),
        in samples at ``sfreq`` (plus the decision's samples; ``history_s / S`` of wall time in a replay at speed S).
        Preallocated, 28 bytes per sample (timestamp, argmax, state epoch, seq): 30 s at 250 Hz take 224 kB.
    burst_s
        Seconds kept on top (the decoder's ``max_buffer_s``; up to :data:`MAX_HISTORY_SAMPLES` in all) for a burst of
        held-up samples decoded at once (a sender frozen a while, a worker catching up): its cues' markers come after
        all of it was decoded (before, its first ``burst - history_s`` seconds were out of the history: missed).
    keep_trials
        Most recent trials listed by :meth:`describe`.
    max_lag_s
        A cue is missed when its first output is later than this after it, when its outputs to the decision span more
        than ``decision_time_s`` + this (a gap), or when this long of samples from its decision sample were rejected.
    reset_grace_s
        A reset or restore at most this long (in samples at ``sfreq``) after a cue's first output starts its trial
        (scored, ``reset_at_start``), see the module docstring; None: ``config.reset_grace_s``.

    Raises
    ------
    ValueError
        ``sfreq`` is not a finite rate > 0, or the reset grace is not a finite number >= 0.
    """

    def __init__(self, config: ScoringConfig, labels: list[str], sfreq: float, *, history_s: float = 30.0,
                 keep_trials: int = 20, max_lag_s: float = 0.5, reset_grace_s: float | None = None,
                 burst_s: float = 0.0) -> None:
        if sfreq <= 0 or not math.isfinite(sfreq):
            raise ValueError(f"sfreq must be a finite rate > 0, got {sfreq}")
        reset_grace_s = config.reset_grace_s if reset_grace_s is None else reset_grace_s
        if not isinstance(reset_grace_s, (int, float)) or not math.isfinite(reset_grace_s) or reset_grace_s < 0:
            raise ValueError(f"reset_grace_s (options.markers.reset_grace_s) must be a finite number of seconds >= 0, "
                             f"got {reset_grace_s!r}")
        self.config = config
        self.labels = list(labels)
        self.class_of = {v: self.labels.index(c) for v, c in config.marker_map.items() if c is not None}
        self.no_trial = {v for v, c in config.marker_map.items() if c is None}  # values the map says are no trial
        scored = sorted(set(self.class_of.values()))  # the argmax is taken among these outputs (all, but for 2+)
        self._columns = np.array(scored) if 2 <= len(scored) < len(self.labels) else np.arange(len(self.labels))
        self.max_lag_s = max_lag_s
        self.n_after = int(round(config.decision_time_s * sfreq))  # samples from the cue to its decision
        self.span_s = config.decision_time_s + max_lag_s  # longest time those samples may take (else: a gap)
        self.span_n = self.n_after + int(round(max_lag_s * sfreq))  # anchor to decision, in input samples, at most
        self.sfreq, self.reset_grace_s = sfreq, reset_grace_s
        self.grace_n = int(round(reset_grace_s * sfreq))  # a reset this many samples after a cue's anchor starts it
        self.starts: collections.OrderedDict[int, int] = collections.OrderedDict()  # reset/restore epoch -> first seq
        self.since_epoch = 0  # the first state epoch scored under this config (a swap's: scoring_swap)
        self.previous: dict[str, Any] | None = None  # the score under the model before the last swap
        self.before_previous: list[dict[str, Any]] = []  # the scores under the models before that (scoring_swap)
        kept = math.ceil(history_s * sfreq)
        burst = min(math.ceil(burst_s * sfreq), max(0, MAX_HISTORY_SAMPLES - kept))
        self.capacity = max(64, kept + burst + self.n_after + 1)
        self._ts = np.zeros(self.capacity)
        self._cls = np.zeros(self.capacity, dtype=np.int32)
        self._epoch = np.zeros(self.capacity, dtype=np.int64)  # the state epoch each output was decoded in
        self._seq = np.zeros(self.capacity, dtype=np.int64)  # the input sample (seq) each output was decoded from
        self._written = 0
        # cues not decided yet: [cue time, value, class, index of the first output at or after the cue or -1]
        self.pending: list[list[Any]] = []
        self.seen: collections.OrderedDict[tuple[float, str], None] = collections.OrderedDict()  # recent cues
        self.trials = self.correct = self.missed = self.interrupted = self.reset_at_start = self.repeated = 0
        self.received = self.mapped = self.unmapped = self.not_trials = 0
        self.unmapped_values: dict[str, int] = {}
        self.per_class = {lab: [0, 0] for lab in self.labels if lab in set(config.marker_map.values())}
        self.last: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep_trials)

    # -- the decoder's outputs (per chunk) ---------------------------------------------------------------

    def outputs(self, ts: np.ndarray, y: np.ndarray, epoch: Any = 0, seq: Any = None) -> None:
        """Note a chunk of outputs ``y [n, K]`` with their timestamps (this host's clock), state epochs (one int for
        the chunk, or one per row: ``Counters.state_epoch``, which a swap, reset, restore or gap-policy reset
        advances) and input sample numbers ``seq`` (samples ``nan_policy: reject`` dropped leave holes; None: one
        after the other); decide due cues."""
        n = len(ts)
        if n == 0:
            return
        epochs = np.broadcast_to(np.asarray(epoch, dtype=np.int64), (n,))
        if seq is None:
            last = int(self._seq[(self._written - 1) % self.capacity]) if self._written else -1
            seq = np.arange(last + 1, last + 1 + n)
        if n > self.capacity:
            ts, y, epochs = ts[n - self.capacity:], y[n - self.capacity:], epochs[n - self.capacity:]
            seq = seq[n - self.capacity:]
            self._written += n - self.capacity
            n = self.capacity
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        scored = y[:, self._columns]  # a row with a non-finite output decides no class (-1): a cue it decides is missed
        cls = np.where(np.isfinite(scored).all(axis=1), self._columns[np.argmax(scored, axis=1)], -1)  # (s68api F3)
        for dst, src in ((self._ts, ts), (self._cls, cls), (self._epoch, epochs), (self._seq, seq)):
            dst[start:start + first] = src[:first]
            if first < n:
                dst[:n - first] = src[first:]
        self._written += n
        if self.pending:
            self._update()

    def adopt_history(self, old: LiveScorer) -> None:
        """Take the outputs ``old`` keeps (timestamp, argmax, state epoch, seq), oldest first, as many as this scorer
        keeps (a hot swap's new scorer: a late marker's cue is found in them, and is then ``interrupted``)."""
        n = min(old._written, old.capacity, self.capacity)
        idx = np.arange(old._written - n, old._written) % old.capacity
        for dst, src in ((self._ts, old._ts), (self._cls, old._cls), (self._epoch, old._epoch), (self._seq, old._seq)):
            dst[:n] = src[idx]
        self._written = n

    def epoch_started(self, epoch: int, first_seq: int) -> None:
        """A reset or state restore (asked through the API) started state epoch ``epoch`` at input sample
        ``first_seq``: a cue anchored at most ``reset_grace_s`` before it is scored from it (module docstring)."""
        self.starts[int(epoch)] = int(first_seq)
        while len(self.starts) > MAX_STARTS:
            self.starts.popitem(last=False)

    def _started_in_grace(self, anchor: int, decision: int) -> int | None:
        """Samples from the cue's anchor to the reset or restore that started the decision's state epoch, when that is
        at most ``grace_n`` (the trial starts there); None: the trial was interrupted."""
        e_anchor, e_dec = int(self._epoch[anchor % self.capacity]), int(self._epoch[decision % self.capacity])
        first = self.starts.get(e_dec)
        if first is None or e_anchor < self.since_epoch:
            return None
        after = first - int(self._seq[anchor % self.capacity])
        return after if 0 <= after <= self.grace_n else None

    def _at(self, i: int) -> tuple[float, int]:
        """Timestamp and argmax class of output number ``i`` (must still be kept)."""
        return float(self._ts[i % self.capacity]), int(self._cls[i % self.capacity])

    def _anchor(self, t_cue: float) -> int | None:
        """Number of the first output at or after ``t_cue`` (a cue on a sample's stamp but for float noise, as
        PlayerLSL's 1e-11 s after it, on that sample: audit s64interop F5): ``-2`` when it is no longer kept, None when
        not decoded yet. A binary search over the kept outputs, whose timestamps rise. After a sender's clock went back
        it lands on an output whose predecessor is before the cue: the cue's own time after the reset, or an output
        from before the reset (when those fill most of the history), more than ``max_lag_s`` from the cue, which is
        then ``missed``, never scored against another time's output."""
        oldest, t_cue = max(0, self._written - self.capacity), t_cue - 1e-4 / self.sfreq  # (1e-4 of a period)
        if self._written == 0 or self._at(self._written - 1)[0] < t_cue:
            return None
        i = bisect.bisect_left(range(oldest, self._written), t_cue, key=lambda j: self._ts[j % self.capacity]) + oldest
        return -2 if i == oldest and oldest > 0 else i

    def _decision(self, anchor: int, t_cue: float) -> int | None:
        """Number of the output that decides the cue anchored at ``anchor``: the first at or after input sample
        ``seq[anchor] + n_after`` (samples ``nan_policy: reject`` dropped have no output, so it may come fewer outputs
        after the anchor), None when not decoded yet, -1 never (the decision sample before the first output); a cue a
        sample period or more before the first output kept (the decoder's first): ``n_after`` samples after the cue."""
        back = 0 if anchor else self._lead(t_cue)  # (audit s64interop F1)
        if back > self.n_after:
            return -1
        target = self._seq[anchor % self.capacity] + self.n_after - back
        stop = min(self._written, anchor + self.n_after - back + 1)  # seq rises by at least one per output
        if self._seq[(stop - 1) % self.capacity] < target:
            return None
        return bisect.bisect_left(range(anchor, stop), target, key=lambda j: self._seq[j % self.capacity]) + anchor

    def _lead(self, t_cue: float) -> int:
        """Whole samples from a cue to output 0 at the outputs' own rate (a replay at speed S: S x nominal)."""
        last = (self._written - 1) % self.capacity
        span = int(self._seq[last] - self._seq[0])  # (float noise aside; review s64 F3)
        period = float(self._ts[last] - self._ts[0]) / span if span > 0 else 1.0 / self.sfreq
        return int((float(self._ts[0]) - t_cue) / period + 1e-4) if period > 0 else 0

    def _update(self) -> None:
        """Anchor and decide what the outputs so far allow, in cue order."""
        newest = self._at(self._written - 1)[0]
        keep = []
        for cue in self.pending:
            t_cue, value, k, anchor = cue
            if anchor == -1:
                anchor = self._anchor(t_cue)
                if anchor is None:
                    keep.append(cue)
                    continue
                if anchor == -2 or self._at(anchor)[0] - t_cue > self.max_lag_s:
                    self.missed += 1  # no output at the cue (out of the history, or a gap in the data)
                    continue
                cue[3] = anchor
            decision = self._decision(anchor, t_cue)
            if decision == -1:
                self.missed += 1  # its decision sample came before the first output
            elif decision is not None:
                self._decide(anchor, decision, t_cue, value, k)
            elif newest - self._at(anchor)[0] > self.span_s:
                self.missed += 1  # the data had a gap between the cue and its decision sample
            else:
                keep.append(cue)
        self.pending = keep

    def _decide(self, anchor: int, decision: int, t_cue: float, value: str, k: int) -> None:
        if decision < self._written - self.capacity:
            self.missed += 1
            return
        t_a, _ = self._at(anchor)
        t_dec, predicted = self._at(decision)
        samples = self._seq[decision % self.capacity] - self._seq[anchor % self.capacity]  # input samples, any speed
        if t_dec - t_a > self.span_s or samples > self.span_n or predicted < 0:  # a gap in time, a rejected decision
            # sample, or a non-finite output at it
            self.missed += 1
            return
        reset_after = None
        if self._epoch[decision % self.capacity] < self.since_epoch:
            self.interrupted += 1  # decided by the model before the last swap (a late marker): not this map's trial
            return
        if self._epoch[anchor % self.capacity] != self._epoch[decision % self.capacity]:
            reset_after = self._started_in_grace(anchor, decision)
            if reset_after is None:
                self.interrupted += 1  # a swap, reset, restore or gap-policy reset between cue and decision: not scored
                return
            self.reset_at_start += 1  # reset on the cue: the trial starts at the reset
        ok = predicted == k
        self.trials += 1
        self.correct += ok
        row = self.per_class[self.labels[k]]
        row[0] += 1
        row[1] += ok
        trial = {"value": value, "class": self.labels[k], "cue_t": t_cue, "decision_t": t_dec,
                 "predicted": self.labels[predicted], "correct": bool(ok)}
        if reset_after is not None:  # started at a reset this long after the cue's first output (samples / sfreq)
            trial["reset_after_s"] = round(reset_after / self.sfreq, 4)
        self.last.append(trial)

    # -- markers -----------------------------------------------------------------------------------------

    def marker(self, value: str, t: float) -> str | None:
        """A marker at ``t`` (this host's clock, finite: the hub counts others); returns the class it cues, or None."""
        if not math.isfinite(t):
            return None
        self.received += 1
        if (k := self.class_of.get(value)) is None:
            if value in self.no_trial:  # e.g. T0 (rest): the map says no trial; not unmapped (audit s70score F5)
                self.not_trials += 1
                return None
            self.unmapped += 1
            if value in self.unmapped_values or len(self.unmapped_values) < MAX_UNMAPPED_VALUES:
                self.unmapped_values[value] = self.unmapped_values.get(value, 0) + 1
            return None
        self.mapped += 1
        if (t, value) in self.seen:  # the same cue again (a re-send, two annotations): one trial, whatever became of
            self.repeated += 1  # the first (scored, missed, interrupted, pending; audit s64interop F4, review s64 F4)
            return self.labels[k]
        self.seen[(t, value)] = None
        if len(self.seen) > MAX_PENDING:
            self.seen.popitem(last=False)
        bisect.insort(self.pending, [t, value, k, -1], key=lambda c: c[0])
        if len(self.pending) > MAX_PENDING:
            self.pending.pop(0)
            self.missed += 1
        if self._written:
            self._update()  # it may have arrived after its samples: decided from the history
        return self.labels[k]

    def describe(self) -> dict[str, Any]:
        """The running score, as reported in status (``scoring``)."""
        n, k = self.trials, self.correct
        ci = wilson(k, n)
        out = {
            "marker_map": dict(self.config.marker_map), "decision_time_s": self.config.decision_time_s,
            "source": self.config.source, "model": self.config.model, "note": self.config.note, "trials": n,
            "correct": k, "accuracy": k / n if n else None, "ci95": None if ci is None else list(ci),
            "per_class": {lab: {"trials": t, "correct": c} for lab, (t, c) in self.per_class.items()},
            "last": list(self.last), "pending": len(self.pending), "missed": self.missed,
            "interrupted": self.interrupted, "reset_at_start": self.reset_at_start, "reset_grace_s": self.reset_grace_s,
            "previous": self.previous, "before_previous": self.before_previous, "markers_received": self.received,
            "markers_mapped": self.mapped, "markers_unmapped": self.unmapped, "markers_repeated": self.repeated,
            "markers_not_trials": self.not_trials, "unmapped_values": dict(self.unmapped_values)}
        return {**out, "map_warning": map_warning(out)}
