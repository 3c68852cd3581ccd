"""The line behind repaired stamps: anchors, the fit through them, and its restarts at gaps.

A part of :class:`~bci_stream.lsl.dejitter.TimestampRepair` (its base class; the method is in the module docstring of
:mod:`bci_stream.lsl.dejitter`). The last sample of each step of equal stamps is an *anchor*; an exponentially
forgetting least-squares line through the anchors (:class:`~bci_stream.lsl.linefit.LineFit`) gives every sample its time
(while a stair-case is detected, moved down to the anchors' lower envelope: :meth:`AnchorFit.floor`). An anchor further
than :meth:`AnchorFit.tolerance` from the line is a gap or a clock step: the fit restarts there, and the samples before
the restart keep the line of their own segment. A step still open at the end of a chunk gets a provisional line before
the first anchor, and restarts the line at once when its first stamp is already too far from it.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from bci_stream.lsl.linefit import Line, LineFit, line_at

MIN_TOLERANCE_S = 0.002
RESIDUAL_MEMORY = 0.98  # per anchor, for the residual RMS behind the gap tolerance
MIN_ANCHORS = 32  # steps seen before a new step's stamp alone can tell a gap
STEP_MEMORY = 0.3  # weight of the latest step in the running mean of samples per step


class AnchorFit:
    """The anchors' line fit of a :class:`~bci_stream.lsl.dejitter.TimestampRepair` (its base class)."""

    # TimestampRepair's attributes used here (set in its __init__)
    fit: LineFit | None
    saved: LineFit | None
    ramp: np.ndarray
    gap_step: float
    last_raw: float
    open_first: int
    samples_repaired: int
    chunks_repaired: int
    restarts: int
    late_pushes: int
    detected: bool

    def _new_steps(self) -> None:
        # samples per step: running mean, most, fewest
        self.k_avg = 1.0
        self.k_max = 1
        self.k_min = 1 << 30
        self.n_anchors = 0  # steps completed
        self.sig2 = 0.0  # anchors' squared residual, averaged
        self.late_first: int | None = None  # first sample of a step whose anchor is held back as a late push

    def _repair(self, ts: np.ndarray, bpos: np.ndarray, idx0: int, first_ever: bool) -> tuple[np.ndarray, bool]:
        """The chunk's repaired stamps, and whether the line restarted inside it."""
        n = len(ts)
        cuts: list[tuple[int, Line]] = []  # (first sample of a new segment, the line of the samples before it)
        apos = bpos[1:] if first_ever else bpos  # step starts that end an earlier step
        m = len(apos)
        if m == 1:
            j = int(apos[0])
            self._anchor1(idx0 + j - 1, self.last_raw if j == 0 else float(ts[j - 1]), cuts)
        elif m:
            self._anchors(ts, apos, idx0, cuts)
        if len(bpos):
            self.open_first = idx0 + int(bpos[-1])
        first = self.open_first
        self._open_step(float(ts[first - idx0]) if first >= idx0 else math.nan, float(ts[-1]), first,
                        idx0 + n - 1, cuts)
        fit = self.fit
        out = fit.b * self._ramp(n)
        out += fit.at(idx0) + self.floor()
        lo = idx0
        for start, line in cuts:  # samples before a restart keep the line of their own segment
            hi = min(max(start, idx0), idx0 + n)
            if hi > lo:
                out[lo - idx0:hi - idx0] = line_at(line, np.arange(lo, hi))
                lo = hi
        self.samples_repaired += n
        self.chunks_repaired += 1
        return out, bool(cuts)

    def floor(self) -> float:
        """The offset from the anchors' least-squares line to their lower envelope (<= 0) while a stair-case is
        detected, else 0. A stair-case stamp is its chunk's push time, which follows the chunk's last sample by a
        delay >= 0, so the line through the anchors is late by the mean delay; their lower envelope, by about the
        least."""
        return self.fit.floor() if self.detected else 0.0

    def _cut(self) -> Line:
        """The line of the samples before a restart, as they are stamped (its floor in)."""
        x_ref, y_ref, a, b = self.fit.line()
        return x_ref, y_ref, a + self.floor(), b

    def _held(self, r: float, first: int) -> bool:
        """Whether an anchor ``r`` later than the line beyond the tolerance (its step from sample ``first``) is held
        back as a late push: not fitted, no restart. While a stair-case is detected a stamp is its chunk's push time,
        an upper bound of its samples' times: a late one says the push was late, not that samples were lost, and the
        step is stamped on the line. Only a second late anchor in a row is a gap (or a clock step): the line restarts
        then, from the first late step on (:meth:`_cut_at`); its samples already out keep the old line."""
        if r <= 0.0 or not self.detected or self.late_first is not None:
            return False
        self.late_first = first
        self.late_pushes += 1
        return True

    def _cut_at(self, first: int) -> int:
        """Where a restart's new segment starts: at the step ``first``, or at the late step held back before it."""
        if self.late_first is None:
            return first
        at, self.late_first = self.late_first, None
        self.late_pushes -= 1  # it was the gap's first step
        return at

    def _steps(self, k: int, k_min: int, k_max: int, count: int) -> None:
        """``count`` steps completed, the last ``k`` samples long, the shortest ``k_min``, the longest ``k_max``."""
        self.k_avg += STEP_MEMORY * (k - self.k_avg)
        self.k_max = max(self.k_max, k_max)
        self.k_min = min(self.k_min, k_min)
        self.n_anchors = self.n_anchors + count

    def _anchor1(self, x: int, y: float, cuts: list[tuple[int, Line]]) -> None:
        """One completed step, ending at sample ``x`` stamped ``y``."""
        first = self.open_first
        k = x - first + 1
        self._steps(k, k, k, 1)
        fit = self.fit
        if not fit.ready or fit.provisional:
            self._confirm(x, y)
            return
        r = y - fit.at(x)
        if abs(r) > self.tolerance():  # a gap or a clock step before this step, or a late push
            if self._held(r, first):
                return
            cuts.append((self._cut_at(first), self._cut()))
            self.restarts += 1
            fit.start(x, y, provisional=False)
        else:
            self.late_first = None
            self.sig2 = RESIDUAL_MEMORY * self.sig2 + (1.0 - RESIDUAL_MEMORY) * r * r
            fit.add1(x, y)

    def _anchors(self, ts: np.ndarray, apos: np.ndarray, idx0: int, cuts: list[tuple[int, Line]]) -> None:
        """Several completed steps: fit them, restarting at each one too far from the line."""
        xs = idx0 + apos - 1  # the anchors: the last sample of each completed step
        ys = ts[np.maximum(apos - 1, 0)].astype(np.float64, copy=False)
        if apos[0] == 0:
            ys[0] = self.last_raw
        starts = np.empty(len(apos), dtype=np.int64)
        starts[0] = self.open_first
        starts[1:] = xs[:-1] + 1
        lengths = (xs - starts + 1).tolist()
        for k in lengths[-8:-1]:  # the running mean forgets fast: the last few steps are enough
            self.k_avg += STEP_MEMORY * (k - self.k_avg)
        self._steps(lengths[-1], min(lengths), max(lengths), len(lengths))
        pos = 0
        m = len(xs)
        while pos < m:
            fit = self.fit
            if not fit.ready or fit.provisional:
                self._confirm(int(xs[pos]), float(ys[pos]))
                pos += 1
                continue
            r = ys[pos:] - fit.at(xs[pos:])
            bad = np.flatnonzero(np.abs(r) > self.tolerance())
            k = int(bad[0]) if len(bad) else m - pos
            if k:
                self.late_first = None
                keep = RESIDUAL_MEMORY**k
                self.sig2 = keep * self.sig2 + (1.0 - keep) * float(r[:k] @ r[:k]) / k
                if k == 1:
                    fit.add1(int(xs[pos]), float(ys[pos]))
                else:
                    fit.add(xs[pos:pos + k], ys[pos:pos + k])
            if pos + k == m:
                break
            if not self._held(float(r[k]), int(starts[pos + k])):
                cuts.append((self._cut_at(int(starts[pos + k])), self._cut()))
                self.restarts += 1
                fit.start(int(xs[pos + k]), float(ys[pos + k]), provisional=False)
            pos += k + 1

    def _open_step(self, s_first: float, s_last: float, first: int, last: int, cuts: list[tuple[int, Line]]) -> None:
        """The step still open at the end of the chunk (samples ``first..last`` so far, stamps ``s_first`` at
        its start when it began in this chunk, else NaN, and ``s_last``): a provisional line before any
        anchor, a restart at once when its stamp is already too far from the line."""
        fit = self.fit
        end = max(last, first + round(self.k_avg) - 1)  # its end, assuming the usual step length
        if not fit.ready or fit.provisional:
            fit.start(end, s_last, provisional=True)
            return
        if math.isnan(s_first) or self.n_anchors < MIN_ANCHORS:  # too few steps seen to know how long they get
            return
        r0 = s_first - fit.at(first)
        tol = self.tolerance()
        spread = self.k_max - self.k_min  # with steps of changing length, a margin for a longer one
        # late (not while a stair-case is detected: a late push, maybe; see _held) or early beyond any usual step
        if (r0 > (self.k_max - 1 + spread) * fit.b + tol and not self.detected) or r0 < -tol:
            self.late_first = None  # a late step held before a step back in time: no longer the gap's start
            cuts.append((first, self._cut()))
            self.restarts += 1
            self.saved = copy.copy(fit)
            fit.start(end, s_last, provisional=True)

    def _confirm(self, x: int, y: float) -> None:
        """The first anchor after a provisional line: the old line back when the anchor fits it (the step
        was only longer than any before, no gap), else a new line through the anchor."""
        saved = self.saved
        self.saved = None
        if saved is not None and abs(y - saved.at(x)) <= self.tolerance():
            self.fit = saved
            self.restarts -= 1
            saved.add1(x, y)
        else:
            self.fit.start(x, y, provisional=False)

    def tolerance(self) -> float:
        """Largest anchor residual taken as jitter; beyond it, a gap or a clock step."""
        return max(self.gap_step, MIN_TOLERANCE_S, 5.0 * math.sqrt(self.sig2))

    def _ramp(self, n: int) -> np.ndarray:
        if n > len(self.ramp):
            self.ramp = np.arange(max(n, 2 * len(self.ramp)), dtype=np.float64)
        return self.ramp[:n]
