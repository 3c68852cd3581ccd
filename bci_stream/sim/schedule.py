"""Cue schedule of the synthetic EEG: rest/cue trials, their ERD time course, labels and onset events.

Trials follow one another as rest (uniform in ``rest_s``) then cue (``trial_s``). Classes are drawn in
shuffled blocks so their counts stay balanced. During a cue the sensorimotor source(s) of its class
(:data:`~bci_stream.sim.sources.CLASS_SOURCES`) desynchronise: the event-related desynchronisation
(ERD) activation ramps from 0 to 1 (raised cosine over ``ERD_RAMP_S``) after onset and back to 0 over
the same time after the cue ends. Trials are drawn lazily, one per draw in a fixed order, so the
schedule does not depend on how the samples are chunked.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bci_stream.sim.sources import CLASS_SOURCES, ERD_RAMP_S

__all__ = ["CueSchedule"]


class CueSchedule:
    """Seeded, lazily drawn sequence of cued trials on the absolute sample axis.

    Parameters
    ----------
    sfreq : float
        Sampling rate in Hz.
    trial_s : float
        Cue duration in seconds (at least one sample).
    rest_s : tuple of float
        ``(min, max)`` rest duration before each cue in seconds, drawn uniformly.
    classes : sequence of str
        Cue classes, each a key of :data:`~bci_stream.sim.sources.CLASS_SOURCES`; class index
        ``i`` is label ``i + 1``.
    rng : numpy.random.Generator
        Dedicated generator for the schedule (rest durations and class order).

    Notes
    -----
    Arguments are assumed valid (checked by :class:`~bci_stream.sim.eeg.SyntheticEEG`). Call
    :meth:`extend` up to the end of a block before :meth:`erd_and_labels` for it, and
    :meth:`record_events_and_prune` once the block has been produced.
    """

    def __init__(
        self,
        sfreq: float,
        trial_s: float,
        rest_s: tuple[float, float],
        classes: Sequence[str],
        rng: np.random.Generator,
    ) -> None:
        self._sfreq = sfreq
        self._rest_s = rest_s
        self._classes = tuple(classes)
        self._rng = rng

        # ERD ramp tables (exact lookups keep chunk invariance)
        self._ramp = max(1, int(round(ERD_RAMP_S * sfreq)))
        t = np.arange(self._ramp + 1) / self._ramp
        self._rise = 0.5 - 0.5 * np.cos(np.pi * t)  # 0 -> 1, rise[R] = 1
        self._fall = 0.5 + 0.5 * np.cos(np.pi * t)  # 1 -> 0, fall[R] = 0
        self._rise[-1], self._fall[-1] = 1.0, 0.0
        self._trial_len = int(round(trial_s * sfreq))

        # schedule state
        self._cursor = 0  # sample where the next rest period begins
        self._class_queue: list[int] = []
        self._trials: list[tuple[int, int, int]] = []  # (onset, end, class index)
        self._event_idx = 0  # first trial in self._trials whose onset is not yet recorded
        self._pending_events: list[tuple[int, str]] = []

    def extend(self, stop: int) -> None:
        """Draw trials until one starts at or after ``stop`` (one trial per draw, fixed order)."""
        while not self._trials or self._trials[-1][0] < stop:
            rest = self._rng.uniform(self._rest_s[0], self._rest_s[1])
            if not self._class_queue:
                self._class_queue = [int(c) for c in self._rng.permutation(len(self._classes))]
            cls = self._class_queue.pop(0)
            onset = self._cursor + int(round(rest * self._sfreq))
            end = onset + self._trial_len
            self._trials.append((onset, end, cls))
            self._cursor = end

    def erd_and_labels(self, s0: int, s1: int) -> tuple[np.ndarray, np.ndarray]:
        """ERD activation per sensorimotor source and cue labels for the samples ``[s0, s1)``.

        Returns
        -------
        act : ndarray of float, shape (s1 - s0, 3)
            ERD activation ``r`` in [0, 1] of sources C3, C4, Cz (0 = no desynchronisation).
        labels : ndarray of int64, shape (s1 - s0,)
            0 for rest, ``i + 1`` while a cue of class index ``i`` is shown.
        """
        n = s1 - s0
        R = self._ramp
        act = np.zeros((n, 3))
        labels = np.zeros(n, dtype=np.int64)
        for onset, end, cls in self._trials:
            if onset >= s1:
                break
            if end + R <= s0:
                continue
            a, b = max(s0, onset), min(s1, end + R)
            k = np.arange(a, b)
            val_end = self._rise[min(end - onset, R)]
            in_cue = k < end
            r = np.where(
                in_cue,
                self._rise[np.minimum(k - onset, R)],
                val_end * self._fall[np.minimum(np.maximum(k - end, 0), R)],
            )
            for src in CLASS_SOURCES[self._classes[cls]]:
                np.maximum(act[a - s0 : b - s0, src], r, out=act[a - s0 : b - s0, src])
            la, lb = max(s0, onset), min(s1, end)
            if lb > la:
                labels[la - s0 : lb - s0] = cls + 1
        return act, labels

    def record_events_and_prune(self, s1: int) -> None:
        """Queue the onsets of trials starting before ``s1``; forget trials whose ERD ended by ``s1``."""
        trials = self._trials
        while self._event_idx < len(trials) and trials[self._event_idx][0] < s1:
            onset, _, cls = trials[self._event_idx]
            self._pending_events.append((onset, self._classes[cls]))
            self._event_idx += 1
        n_drop = 0
        while (
            n_drop < self._event_idx
            and trials[n_drop][1] + self._ramp <= s1
        ):
            n_drop += 1
        if n_drop:
            del trials[:n_drop]
            self._event_idx -= n_drop

    def pop_events(self) -> list[tuple[int, str]]:
        """``(onset sample, class name)`` of every trial recorded since the previous call, in order."""
        events, self._pending_events = self._pending_events, []
        return events
