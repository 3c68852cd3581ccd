"""Timestamp gaps of one stream: lost samples estimated net of jitter, chunks cut where a gap policy applies.

Every received sample ``i`` has an *offset* ``o_i = ts_i * sfreq - i``: the stamps' count of periods minus the
samples received. Without loss it moves only with the sender's jitter (a stamp is late, never early: jitter only
raises it) and rate error (a steady slope). A lost sample raises every later offset by one for good. So:

* the *base* is the offsets' lower envelope, ``base = min(base + RISE, o_i)`` per sample (it follows a sender up to
  ``RISE`` = 1 % slower than its nominal rate, and any faster one, a fast replay included); its running slope per
  sample is the sender's rate error;
* an offset ``TRIGGER`` (0.75) or more above the base opens a *settling window* of ``max(32 samples, 0.25 s)``
  with the base frozen; the least excess of the window's offsets over it, the rate error taken out, is what was
  lost there when it is at least ``COUNT_FROM`` (0.95), rounded (one gap). A late stamp is followed by timely ones,
  so jitter loses nothing (stamps late by three periods on average: a few samples a minute, when no window
  happens to hold a timely one); a regular stream's loss is counted exactly (a stair-case of repeated stamps too: its
  envelope is its chunks' last samples); a loss amid jitter is counted, short by at most the delay of the stamp
  before it (in samples).

A stall, a stop or a restart closes a window at once (:meth:`GapTracker.settle`), so a loss just before a stream
went silent is counted too. The gap policy is separate: a chunk is cut before every step longer than
``threshold_s``, and steps back are counted (``backward_steps``; decoded in arrival order, never a gap).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from bci_stream.core.status import Counters

#: ``(lo, hi, gap_s)``: samples ``lo:hi`` of a chunk; ``gap_s`` is set when a gap longer than the
#: threshold precedes them (the gap policy is applied before they are decoded).
Segment = tuple[int, int, float | None]

RISE = 0.01
"""Largest rise of the base per sample: a sender up to 1 % slower than nominal is drift, not loss."""
TRIGGER = 0.75
"""An offset this far (samples) above the base opens a settling window."""
COUNT_FROM = 0.95
"""A window whose least excess is under this (samples) lost nothing: a loss is a whole sample, jitter a fraction."""
SETTLE_SAMPLES, SETTLE_S = 32, 0.25
"""A settling window holds this many samples, and at least this long at the nominal rate."""
SLOPE_SAMPLES, SLOPE_MARKS = 256, 9
"""The base's slope (the sender's rate error) is measured between marks this many samples apart, over the last
SLOPE_MARKS marks (the stream's first span left out: its first stamps' delays)."""


class GapTracker:
    """Estimates lost samples from a stream's timestamps and splits chunks where the gap policy applies.

    Parameters
    ----------
    sfreq
        Nominal rate of the stream.
    threshold_s
        Steps longer than this end a segment (the caller applies its gap policy there).
    """

    def __init__(self, sfreq: float, threshold_s: float) -> None:
        self.sfreq = sfreq
        self.threshold_s = threshold_s
        self.window = max(SETTLE_SAMPLES, math.ceil(SETTLE_S * sfreq))
        self.last_ts: float | None = None
        self.count = 0  # samples received (the index of the next one)
        self.base: float | None = None  # the offsets' lower envelope; frozen while a window is open
        self.slope = 0.0  # the base's change per sample (losses left out), measured over the marks
        self.marks: deque[tuple[int, float]] = deque(maxlen=SLOPE_MARKS)  # (count, base - lost), SLOPE_SAMPLES apart
        self.lost = 0  # samples counted lost by this tracker
        self.next_mark = SLOPE_SAMPLES  # the first span (its first stamps' delays) is left out of the slope
        self.held: list[np.ndarray] | None = None  # the open settling window's offsets; None: none open
        self.n_held = 0

    def resume_after(self, last_ts: float) -> None:
        """Continue a stream whose last sample (published by an earlier process) had stamp ``last_ts``."""
        self.last_ts, self.count, self.base = last_ts, 0, last_ts * self.sfreq + 1.0
        self.marks.clear()
        self.next_mark = SLOPE_SAMPLES

    def split(self, ts: np.ndarray, c: Counters) -> list[Segment]:
        """Count lost samples (and steps back) in ``c``; return the chunk's segments."""
        prev, n = self.last_ts, len(ts)
        self.last_ts = float(ts[-1])
        if n == 1 and self.held is None and self.base is not None:  # per sample, in plain floats
            o = self.last_ts * self.sfreq - self.count
            step = self.last_ts - prev if prev is not None else 0.0
            if o - self.base - RISE < TRIGGER and 0.0 <= step <= self.threshold_s:
                self.base, self.count = min(self.base + RISE, o), self.count + 1
                if self.count >= self.next_mark:
                    self._measure_slope(self.count)
                return [(0, 1, None)]
        steps = np.empty(n)  # np.diff(ts, prepend=...) without its concatenation (several µs per chunk)
        steps[0] = 0.0 if prev is None else ts[0] - prev
        np.subtract(ts[1:], ts[:-1], out=steps[1:])
        if steps.min() < 0:  # timestamps went back: decoded in arrival order as usual, counted, never a gap
            c.backward_steps += int((steps < 0).sum())
        self._track(ts, c)
        cuts = [int(i) for i in np.flatnonzero(steps > self.threshold_s)]
        if not cuts:
            return [(0, n, None)]
        bounds = ([0] if cuts[0] != 0 else []) + cuts + [n]
        return [(lo, hi, float(steps[lo]) if lo in cuts else None) for lo, hi in zip(bounds[:-1], bounds[1:])]

    def _track(self, ts: np.ndarray, c: Counters) -> None:
        """The envelope and settling windows over a chunk (see the module docstring)."""
        n = len(ts)
        offsets = ts * self.sfreq - np.arange(self.count, self.count + n)
        self.count += n
        if self.base is None:
            self.base = float(offsets[0])
        if self.held is None:  # the usual chunk: no offset far above the base (then no envelope needed in full)
            lowest = float(offsets.min())
            if float(offsets.max()) - min(self.base, lowest) < TRIGGER:
                end = float((offsets - RISE * np.arange(n)).min()) + RISE * (n - 1)  # the envelope at the last
                self.base = min(self.base + RISE * n, end)
                if self.count >= self.next_mark:
                    self._measure_slope(self.count)
                return
        i = 0
        while i < n:
            if self.held is None:  # the envelope until an offset rises TRIGGER above it
                o = offsets[i:]
                rise = RISE * np.arange(len(o))
                env = rise + np.minimum(self.base + RISE, np.minimum.accumulate(o - rise))
                up = np.flatnonzero(o - np.r_[self.base, env[:-1]] - RISE >= TRIGGER)
                g = len(o) if len(up) == 0 else int(up[0])
                if g:
                    self.base = float(env[g - 1])
                if self.count - (n - i - g) >= self.next_mark:
                    self._measure_slope(self.count - (n - i - g))
                if g == len(o):
                    return
                self.held, self.n_held = [], 0  # a window opens at i + g, the base frozen
                i += g
            take = min(n - i, self.window - self.n_held)
            self.held.append(offsets[i:i + take])
            self.n_held += take
            i += take
            if self.n_held == self.window:
                self.settle(c)

    def _measure_slope(self, count: int) -> None:
        """A mark at sample ``count`` (the base, losses left out), and the slope over the marks."""
        self.marks.append((count, self.base - self.lost))
        self.next_mark = count + SLOPE_SAMPLES
        (n0, b0), (n1, b1) = self.marks[0], self.marks[-1]
        if n1 > n0:
            self.slope = (b1 - b0) / (n1 - n0)

    def settle(self, c: Counters) -> None:
        """Close the open settling window now; what it shows lost goes into ``c`` (also at a stall, stop, restart)."""
        if self.held is None or self.base is None:
            return
        held = np.concatenate(self.held)
        self.held, self.n_held = None, 0
        if len(held) == 0:
            return
        low = float((held - self.slope * np.arange(len(held))).min()) - self.base
        lost = int(round(low)) if low >= COUNT_FROM else 0
        if lost:
            c.gaps += 1
            c.samples_lost += lost
            self.lost += lost
        # the base after the window: the loss added (and a slow sender's rise), or lower where the window's offsets
        # were (a faster sender); a further loss inside the window is then left to the next window
        rise = max(self.slope, 0.0)
        env = float((held + rise * np.arange(len(held) - 1, -1, -1)).min())
        self.base = min(self.base + lost + rise * len(held), env)
