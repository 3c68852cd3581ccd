"""A source's clock offset as a line over the sender's time, changed without a step (:class:`ClockLine`).

LSL's ``time_correction`` gives a fresh estimate of ``local_clock() - sender's clock`` every few seconds. Added as a
constant, each new estimate moved the decoded stamps in one step: a sender clock that drifts (crystals differ by up
to ~100 ppm) or estimates that scatter (a busy network: a millisecond) made the decoded stamps step back or jump ahead
at every refresh (17 ms back every 2 s for a sender 1 % fast), uncounted. Here the offset is a least-squares line
over the estimates of the last :data:`ClockLine.WINDOW_S` seconds (its slope is the drift), and a new line takes
over from the last one over :data:`ClockLine.BLEND_S` seconds of the sender's time, so the mapped stamps run on
without a step. A change larger than :data:`ClockLine.STEP_S` is a step of the clock itself (a sender clock set,
or another instance), applied as one.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class ClockLine:
    """The offset ``local - sender`` as a function of the sender's time ``t`` (seconds): :meth:`take` an estimate,
    :meth:`offset_at` or :meth:`mapped` stamps."""

    #: estimates this far back (seconds of the sender's time) make the line
    WINDOW_S = 60.0
    #: a slope needs this many estimates spanning :data:`MIN_SPAN_S`; before, the line is the latest estimate, flat
    MIN_POINTS = 4
    MIN_SPAN_S = 10.0
    #: a new line takes over from the last over this long (seconds of the sender's time)
    BLEND_S = 2.0
    #: a change larger than this (seconds) is applied at once: a step of the clock, not drift or noise
    STEP_S = 0.1

    def __init__(self) -> None:
        self.points: deque[tuple[float, float]] = deque()
        self.line: tuple[float, float, float] | None = None  # t_c, offset at t_c, slope
        self.blend: tuple[float, float] | None = None  # t0 (sender's time), the last line's lead over the new at t0
        self.stale = False  # the next estimate starts a new line, at once (another clock)

    def take(self, t: float, estimate: float) -> None:
        """A new estimate, taken at the sender's time ``t`` (``local_clock() - estimate`` when it came)."""
        if self.stale:
            self.points.clear()
            self.line, self.stale = None, False
        if self.points and t <= self.points[-1][0]:
            return  # the same estimate again
        before = None if self.line is None else self.offset_at(t)
        if before is not None and abs(estimate - before) > self.STEP_S:  # the clock stepped: the line starts there
            self.points.clear()
        self.points.append((t, estimate))
        while self.points[0][0] < t - self.WINDOW_S:
            self.points.popleft()
        ts = np.array([p[0] for p in self.points])
        est = np.array([p[1] for p in self.points])
        t_c = float(ts.mean())
        if len(ts) >= self.MIN_POINTS and ts[-1] - ts[0] >= self.MIN_SPAN_S:
            slope = float(np.polyfit(ts - t_c, est, 1)[0])
            self.line = (t_c, float(est.mean()), slope)
        else:
            self.line = (t, estimate, 0.0)
        lead = None if before is None else before - self._line_at(t)
        self.blend = (t, lead) if lead is not None and abs(lead) <= self.STEP_S else None

    def provisional(self, t: float, offset: float) -> None:
        """An offset that is no estimate (a new instance's, from its data's arrival here) at the sender's time ``t``,
        until the first estimate: the line flat at it, no estimate kept; the first estimate takes over from it as from
        any line (blended in when within :data:`STEP_S`, at once otherwise)."""
        self.points.clear()
        self.line, self.blend, self.stale = (t, offset, 0.0), None, False

    def forget(self) -> None:
        """Start anew with the next estimate (another outlet instance: maybe another clock); until then, as before."""
        self.stale = True

    def _line_at(self, t: float) -> float:
        assert self.line is not None
        t_c, at_c, slope = self.line
        return at_c + slope * (t - t_c)

    def offset_at(self, t: float) -> float:
        """The offset at the sender's time ``t`` (0 before any estimate)."""
        return float(self.mapped(np.array([t]))[0] - t)

    def mapped(self, ts: np.ndarray) -> np.ndarray:
        """``ts`` (the sender's stamps) on this host's clock: ``ts`` + the offset at each."""
        if self.line is None:
            return ts + 0.0
        t_c, at_c, slope = self.line
        out = ts + at_c + slope * (ts - t_c)
        if self.blend is not None:
            t0, lead = self.blend
            out = out + lead * np.clip(1.0 - (ts - t0) / self.BLEND_S, 0.0, 1.0)
        return out


__all__ = ["ClockLine"]
