"""Events from a sampled code signal (a trigger/stim channel, a BCI2000 state): one event per constant run."""

from __future__ import annotations

import numpy as np

from bci_stream.io.recording import Event


def code_runs(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start sample, length and value of every run of equal consecutive values in 1-D ``codes``."""
    codes = np.asarray(codes)
    if codes.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, codes[:0]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    lengths = np.diff(np.r_[starts, codes.size])
    return starts.astype(np.int64), lengths.astype(np.int64), codes[starts]


def events_from_codes(codes: np.ndarray, *, include_zero: bool = False,
                      descriptions: np.ndarray | None = None) -> list[Event]:
    """One :class:`Event` per run of a constant value in ``codes``.

    Parameters
    ----------
    codes
        1-D integer code per sample.
    include_zero
        Also make events of runs of 0 (e.g. BCI2000 ``StimulusCode`` 0 = rest); off for trigger
        channels, where 0 means "no event".
    descriptions
        Optional second code per sample: when given, each event's description is that code's value at
        the run's onset instead of the run's own value (e.g. BCI2000 ``StimulusType`` at each
        ``StimulusCode`` flash).
    """
    starts, lengths, values = code_runs(np.asarray(codes).astype(np.int64))
    out = []
    for start, length, value in zip(starts, lengths, values):
        if value == 0 and not include_zero:
            continue
        desc = value if descriptions is None else descriptions[start]
        out.append(Event(int(start), int(length), str(int(desc))))
    return out


#: A trigger code held for less than this (seconds) is a pulse: a point in time, as a BrainVision marker of size 1.
PULSE_MAX_S = 0.1


def trigger_events(codes: np.ndarray, sfreq: float) -> list[Event]:
    """The events of a trigger (stim) channel: one per run of a non-zero code (:func:`events_from_codes`), a pulse
    (held under :data:`PULSE_MAX_S`) with duration 0, an onset whose span a label runs to the next event, as for
    any cue without a duration; a code held longer (level-coded trials) keeps its length. Before, a one-sample
    pulse labelled one sample: ``train`` took 60 labelled samples from two 2-minute runs, and ``evaluate``'s sample
    accuracy and its note on trials decided after their span were wrong."""
    pulse = PULSE_MAX_S * sfreq
    return [Event(e.onset, 0, e.description) if e.duration < pulse else e for e in events_from_codes(codes)]
