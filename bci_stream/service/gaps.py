"""Timestamp gaps of one stream: counted, their lost samples estimated, chunks cut where a policy applies."""

from __future__ import annotations

import numpy as np

from bci_stream.core.status import Counters

#: ``(lo, hi, gap_s)``: samples ``lo:hi`` of a chunk; ``gap_s`` is set when a gap longer than the
#: threshold precedes them (the gap policy is applied before they are decoded).
Segment = tuple[int, int, float | None]


class GapTracker:
    """Splits pulled chunks at gaps (timestamp steps > 1.5 sample periods).

    Parameters
    ----------
    sfreq
        Nominal rate of the stream.
    threshold_s
        Gaps longer than this end a segment (the caller applies its gap policy there).
    """

    def __init__(self, sfreq: float, threshold_s: float) -> None:
        self.sfreq = sfreq
        self.threshold_s = threshold_s
        self.gap_limit = 1.5 / sfreq
        self.last_ts: float | None = None

    def split(self, ts: np.ndarray, c: Counters) -> list[Segment]:
        """Count gaps and lost samples in ``c``; return the chunk's segments."""
        prev = self.last_ts
        self.last_ts = float(ts[-1])
        if len(ts) == 1:  # the per-sample case in plain floats (numpy's per-call cost is most of it)
            step = 0.0 if prev is None else self.last_ts - prev
            if 0.0 <= step <= self.gap_limit:
                return [(0, 1, None)]
        steps = np.empty(len(ts))  # np.diff(ts, prepend=...) without its concatenation (several µs per chunk)
        steps[0] = 0.0 if prev is None else ts[0] - prev
        np.subtract(ts[1:], ts[:-1], out=steps[1:])
        lowest = steps.min()
        if lowest >= 0.0 and steps.max() <= self.gap_limit:  # the usual chunk: regular steps
            return [(0, len(ts), None)]
        if lowest < 0:  # timestamps went back: decoded in arrival order as usual, counted, never a gap
            c.backward_steps += int((steps < 0).sum())
        big = np.flatnonzero(steps > self.gap_limit)
        if len(big) == 0:
            return [(0, len(ts), None)]
        c.gaps += len(big)
        c.samples_lost += int(np.maximum(np.rint(steps[big] * self.sfreq) - 1, 0).sum())
        cuts = [int(i) for i in big if steps[i] > self.threshold_s]
        if not cuts:
            return [(0, len(ts), None)]
        bounds = ([0] if cuts[0] != 0 else []) + cuts + [len(ts)]
        return [(lo, hi, float(steps[lo]) if lo in cuts else None) for lo, hi in zip(bounds[:-1], bounds[1:])]
