"""The jitter a :class:`~bci_stream.lsl.dejitter.TimestampRepair` reports: the spread of the sample steps, before and
after repair.

A part of ``TimestampRepair`` (its base class). Each chunk's steps (differences of consecutive stamps) add their
deviation from the nominal period, raw and repaired, to a :class:`~bci_stream.lsl.jitter.StepJitter` (about 10 s of
steps). Gaps are left out: a repaired step longer than 1.5 periods, or a backwards one. Unrepaired stamps of a
detected stair-case count up to :data:`STAIR_STEP_S` (its steps are long by nature).
"""

from __future__ import annotations

import numpy as np

from bci_stream.lsl.jitter import StepJitter

STAIR_STEP_S = 2.0  # unrepaired stair-case steps up to this long count in the jitter (longer: gaps)


class JitterAccounting:
    """The jitter sums of a :class:`~bci_stream.lsl.dejitter.TimestampRepair` (its base class)."""

    # TimestampRepair's attributes used here (set in its __init__)
    period: float
    gap_step: float
    detected: bool
    jitter: StepJitter

    def _jitter_sums(self, d_in: np.ndarray, d_out: np.ndarray, skip_first: bool) -> None:
        """Accumulate the steps' deviation from the period, before and after (every pair is no gap)."""
        if skip_first:
            d_in, d_out = d_in[1:], d_out[1:]
        eb = d_in - self.period
        sb, sbb = float(eb.sum()), float(eb @ eb)
        if d_out is d_in:
            self.jitter.add(len(eb), sb, sbb, sb, sbb)
        else:
            ea = d_out - self.period
            self.jitter.add(len(eb), sb, sbb, float(ea.sum()), float(ea @ ea))

    def _limit(self) -> float:
        """Longest step of unrepaired stamps taken as jitter, not as a gap: on a stair-case, its steps."""
        return max(self.gap_step, STAIR_STEP_S) if self.detected else self.gap_step

    def _jitter_masked(self, d_in: np.ndarray, d_out: np.ndarray, skip_first: bool, limit: float) -> None:
        """The same over the pairs whose repaired step is no gap (up to ``limit``) and not backwards."""
        ok = (d_out >= 0.0) & (d_out <= limit)
        ok[0] &= not skip_first
        self._jitter_sums(d_in[ok], d_out[ok], False)

    def _jitter_line(self, d_in: np.ndarray, d0: float, b: float, skip_first: bool) -> None:
        """The same when the repaired chunk is one line of slope ``b`` (its first step ``d0``)."""
        eb = d_in[1:] - self.period
        n = len(eb)
        sb = float(eb.sum())
        sbb = float(eb @ eb)
        ea = b - self.period
        sa = n * ea
        saa = n * ea * ea
        if not skip_first:  # the chunk's first step, from the last stamp before it
            e0 = float(d_in[0]) - self.period
            e0_out = d0 - self.period
            n += 1
            sb += e0
            sbb += e0 * e0
            sa += e0_out
            saa += e0_out * e0_out
        self.jitter.add(n, sb, sbb, sa, saa)

    def _jitter1(self, d_in: float, d_out: float, limit: float) -> None:
        """The same for one step (a chunk of one sample)."""
        if 0.0 <= d_out <= limit:
            eb = d_in - self.period
            ea = d_out - self.period
            self.jitter.add(1, eb, eb * eb, ea, ea * ea)
