"""Per-sample timestamps for senders that stamp whole chunks ("stair-case" timestamps).

Many amplifier apps give a chunk one timestamp. What a pylsl inlet receives then (liblsl 1.16 on loopback;
``tests/unit/lsl/test_dejitter.py`` keeps these facts checked):

* ``push_chunk(x, timestamp=t)``: liblsl stamps the first sample ``t - (k-1)/sfreq`` and marks the others
  deduced; the inlet fills them in as previous + 1/sfreq. Per-sample stamps, right when the sender's rate is
  nominal: *regular*, left alone.
* ``push_sample`` per sample with the chunk's time, or ``push_chunk(x, [t] * k)``: ``k`` equal stamps, then a
  step of ``k`` periods: a *stair-case*. Latency and marker alignment are off by up to ``k - 1`` periods,
  and every step looks like a gap.
* A timestamp on the last sample of each chunk only (the others deduced): regular again (the first deduced
  samples of the stream count from 0, which liblsl does and nothing here can undo).

Method. By LSL's convention a chunk's stamp is the time of its *last* sample. Runs of stamps less than 0.45 of a
period apart are *steps*; the last sample of each step is an *anchor* whose stamp is its own time. An exponentially
forgetting least-squares line ``t = a + b·i`` over the anchors (stamp against sample index; half-life
``halftime_s``; a ridge prior on the slope at the nominal period, so one anchor already gives a line) gives every
sample its time: liblsl's ``postproc_dejitter`` model (a recursive least-squares fit with forgetting), fitted on
anchors only (a fit through every stair sample would be late by (k-1)/2 periods), and vectorised over the anchors of
a chunk. The state carries across chunks of any size, including chunks that split a sender's chunk (a pull often
takes the first sample of a chunk alone): a step is an anchor once the next step starts. An anchor further than a
tolerance from the line (max(1.5 periods, 2 ms, 5 times the anchors' residual RMS)) is a gap or a clock step: the
fit restarts there with the last slope, so the gap stays in the repaired stamps and GapTracker counts it (a restart
onto an earlier line holds the last stamp: time never steps back). A new step whose stamp is already too far from the
line is treated the same at once (its end assumed one usual step on). Raw stamps are the sender's clock: the clock
offset added later changes nothing here.

Why not liblsl's ``proc_dejitter`` flag: it fits every stamp (late by (k-1)/2 periods on a stair-case), it smooths
every stream, regular ones included, it never restarts at a gap (a gap is spread over the half-life, 90 s by
default, so it is no longer a gap), and the raw stamps, hence the jitter before repair, are lost.

Modes: ``auto`` repairs once a quarter of the sample steps are under 0.45 periods (off again under 5 %) while
the mean step is 0.55-2 periods (a replay at speed 4 has short steps, all alike, but no stair-case; at speed 2
exactly, steps of half a period are none either; one sent 100 times faster is not told from repeated stamps);
``on`` always; ``off`` never; never for an irregular stream (sfreq 0). Until a stream's first step is complete
its stamps are provisional (``auto`` passes the first pull as it came). The jitter in
:meth:`TimestampRepair.describe` is the std of the sample steps before and after, over ~10 s, gaps left out
(unrepaired stair-case steps up to 0.25 s count).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from bci_stream.lsl.jitter import StepJitter
from bci_stream.lsl.linefit import Line, LineFit, line_at

MODES, HALFTIME_S, MIN_TOLERANCE_S = ("auto", "on", "off"), 10.0, 0.002
ON_FRACTION, OFF_FRACTION, MIN_STEPS = 0.25, 0.05, 8
RESIDUAL_MEMORY = 0.98  # per anchor, for the residual RMS behind the gap tolerance
MIN_ANCHORS = 32  # steps seen before a new step's stamp alone can tell a gap
STAIR_STEP_S = 0.25  # unrepaired stair-case steps up to this long count in the jitter (longer: gaps)
STEP_MEMORY = 0.3  # weight of the latest step in the running mean of samples per step
# Mean step / period of a stair-case (or its first step: repeats): > 1/2 and short steps < 0.45 periods, so a stream
# at exactly twice its rate is none; KEEP_RANGE once detected (a big stair's mean dips to ~0.5 before its 2nd step).
RATE_RANGE, KEEP_RANGE, SAME_STAMPS, SHORT_STEP = (0.55, 2.0), (0.4, 2.5), 0.01, 0.45


class TimestampRepair:
    """Detects stair-case timestamps and gives each sample its own (see the module docstring).

    Parameters
    ----------
    sfreq
        The stream's nominal rate; 0 (irregular) turns the repair off.
    mode
        ``auto`` (repair when detected), ``on`` (always) or ``off`` (never; the jitter is still measured).
    halftime_s
        Half-life of the line fit's memory, s.
    """

    def __init__(self, sfreq: float, mode: str = "auto", halftime_s: float = HALFTIME_S) -> None:
        if mode not in MODES:
            raise ValueError(f"timestamp_repair must be one of auto, on, off, got {mode!r}")
        if not (math.isfinite(sfreq) and sfreq >= 0):
            raise ValueError(f"sfreq must be finite and >= 0 (0: irregular), got {sfreq}")
        if not (math.isfinite(halftime_s) and halftime_s > 0):
            raise ValueError(f"halftime_s must be finite and > 0, got {halftime_s}")
        self.sfreq, self.mode = float(sfreq), mode
        self.period = 1.0 / sfreq if sfreq > 0 else 0.0
        self.same, self.gap_step = SHORT_STEP * self.period, 1.5 * self.period
        self.halftime_samples = halftime_s * sfreq
        self.fit = LineFit(self.period, self.halftime_samples) if sfreq > 0 else None
        self.saved: LineFit | None = None  # the line before a restart that a step's first stamp alone decided
        self.ramp = np.arange(64, dtype=np.float64)
        self.window = max(64.0, 2.0 * sfreq)  # steps in the detection's memory (then halved)
        self.jitter = StepJitter(max(64.0, 10.0 * sfreq))
        self.n, self.last_raw, self.last_out = 0, math.nan, math.nan  # samples seen; the last stamp in and out
        self.open_first = 0  # index of the first sample of the latest step
        self.n_steps = self.n_short = 0.0  # sample steps, and those shorter than SHORT_STEP periods
        self.t_steps = 0.0  # their summed length (each clipped to [0, STAIR_STEP_S]): the sender's mean rate
        self.detected, self.active = False, mode == "on" and sfreq > 0
        self._new_steps()
        self.samples_repaired = self.chunks_repaired = self.restarts = self.activations = 0

    def _new_steps(self) -> None:
        self.k_avg, self.k_max, self.k_min = 1.0, 1, 1 << 30  # samples per step: running mean, most, fewest
        self.n_anchors = 0  # steps completed
        self.sig2 = 0.0  # anchors' squared residual, averaged

    # -- the per-chunk call ------------------------------------------------------------------------------

    def apply(self, ts: np.ndarray) -> np.ndarray:
        """The stamps of the next chunk ``ts`` (raw, the sender's clock): ``ts`` itself when left as they
        are, else a new array."""
        n = len(ts)
        if n == 0 or self.fit is None:
            return ts
        if n == 1:
            return self._one(ts)
        idx0, prev, first_ever = self.n, self.last_raw, self.n == 0
        d = np.empty(n)
        np.subtract(ts[1:], ts[:-1], out=d[1:])
        d[0] = self.period if first_ever else ts[0] - prev  # the stream's first sample: a step start
        lo, hi = float(d.min()), float(d.max())
        if lo > self.same:  # every sample its own step: regular stamps
            bpos, n_long = None, n
        else:
            bpos = np.flatnonzero((d > self.same) | (d < 0.0) if lo < 0.0 else d > self.same)  # step starts
            n_long = len(bpos)
        self.n_steps += n - first_ever
        self.n_short += n - n_long
        if lo >= 0.0 and hi <= STAIR_STEP_S:
            self.t_steps += float(ts[-1] - ts[0]) + (0.0 if first_ever else float(d[0]))
        else:
            self.t_steps += float(np.clip(d[first_ever:], 0.0, STAIR_STEP_S).sum())
        self._detect()
        if bpos is None:
            bpos = self._ramp(n).astype(np.int64) if self.active else None
        if not self.active:
            if bpos is None or len(bpos):
                self.open_first = idx0 + (n - 1 if bpos is None else int(bpos[-1]))
            limit = self._limit()
            if lo >= 0.0 and hi <= limit:
                self._jitter_sums(d, d, first_ever)
            else:
                self._jitter_masked(d, d, first_ever, limit)
            out = ts
        else:
            out, cut = self._repair(ts, bpos, idx0, first_ever)
            if not first_ever and lo >= 0.0 and (out[0] < self.last_out or cut):  # restarts never take time back
                out = np.maximum.accumulate(np.maximum(out, self.last_out))
            d0 = out[0] - self.last_out
            if cut or not (0.0 <= d0 <= self.gap_step and lo >= 0.0):
                d_out = np.empty(n)
                np.subtract(out[1:], out[:-1], out=d_out[1:])
                d_out[0] = d0
                self._jitter_masked(d, d_out, first_ever, self.gap_step)
            else:  # one line over the chunk: its steps are the slope
                self._jitter_line(d, d0, self.fit.b, first_ever)
        self.n += n
        self.last_raw, self.last_out = float(ts[-1]), float(out[-1])
        return out

    def _one(self, ts: np.ndarray) -> np.ndarray:
        """One sample: the same steps in plain floats (numpy's per-call cost would be most of it)."""
        t, prev, idx = float(ts[0]), self.last_raw, self.n
        boundary = True
        if idx:
            d = t - prev
            boundary = not 0.0 <= d <= self.same
            self.n_steps += 1.0
            self.n_short += 0.0 if boundary else 1.0
            self.t_steps += min(max(d, 0.0), STAIR_STEP_S)
            self._detect()
        out = t
        if self.active:
            if boundary and idx:
                self._anchor1(idx - 1, prev, [])
            if boundary:
                self.open_first = idx
            self._open_step(t if boundary else math.nan, t, self.open_first, idx, [])
            out = float(self.fit.at(idx)) if not idx or d < 0.0 else max(float(self.fit.at(idx)), self.last_out)
            self.samples_repaired += 1
            self.chunks_repaired += 1
        elif boundary:
            self.open_first = idx
        if idx:
            self._jitter1(d, out - self.last_out, self.gap_step if self.active else self._limit())
        self.n += 1
        self.last_raw, self.last_out = t, out
        return ts if out == t else np.array([out])

    # -- repair ------------------------------------------------------------------------------------------

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
        out += fit.at(idx0)
        lo = idx0
        for start, line in cuts:  # samples before a restart keep the line of their own segment
            hi = min(max(start, idx0), idx0 + n)
            if hi > lo:
                out[lo - idx0:hi - idx0] = line_at(line, np.arange(lo, hi))
                lo = hi
        self.samples_repaired += n
        self.chunks_repaired += 1
        return out, bool(cuts)

    def _steps(self, k: int, k_min: int, k_max: int, count: int) -> None:
        self.k_avg += STEP_MEMORY * (k - self.k_avg)
        self.k_max, self.k_min, self.n_anchors = max(self.k_max, k_max), min(self.k_min, k_min), self.n_anchors + count

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
        if abs(r) > self.tolerance():  # a gap or a clock step before this step
            cuts.append((first, fit.line()))
            self.restarts += 1
            fit.start(x, y, provisional=False)
        else:
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
        pos, m = 0, len(xs)
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
                keep = RESIDUAL_MEMORY**k
                self.sig2 = keep * self.sig2 + (1.0 - keep) * float(r[:k] @ r[:k]) / k
                if k == 1:
                    fit.add1(int(xs[pos]), float(ys[pos]))
                else:
                    fit.add(xs[pos:pos + k], ys[pos:pos + k])
            if pos + k == m:
                break
            cuts.append((int(starts[pos + k]), fit.line()))
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
        r0, tol = s_first - fit.at(first), self.tolerance()
        spread = self.k_max - self.k_min  # with steps of changing length, a margin for a longer one
        if r0 > (self.k_max - 1 + spread) * fit.b + tol or r0 < -tol:
            cuts.append((first, fit.line()))
            self.restarts += 1
            self.saved = copy.copy(fit)
            fit.start(end, s_last, provisional=True)

    def _confirm(self, x: int, y: float) -> None:
        """The first anchor after a provisional line: the old line back when the anchor fits it (the step
        was only longer than any before, no gap), else a new line through the anchor."""
        saved, self.saved = self.saved, None
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

    # -- detection and jitter ----------------------------------------------------------------------------

    def _detect(self) -> None:
        if self.n_steps > self.window:
            self.n_steps *= 0.5
            self.n_short *= 0.5
            self.t_steps *= 0.5
        if self.n_steps < MIN_STEPS:
            return
        frac = self.n_short / self.n_steps
        # A stair-case sender runs at its nominal rate on average; a stream sent faster or slower than its
        # nominal rate (a replay at speed 4) has short steps too, but no stamps to repair.
        ratio = self.t_steps / (self.n_steps * self.period)
        lo, hi = KEEP_RANGE if self.detected else RATE_RANGE
        nominal = lo <= ratio <= hi or ratio < SAME_STAMPS
        if not self.detected and frac >= ON_FRACTION and nominal:
            self.detected = True
            if self.mode == "auto":
                self.active = True
                self.activations += 1
                self.fit, self.saved = LineFit(self.period, self.halftime_samples), None
                self._new_steps()
        elif self.detected and (frac < OFF_FRACTION or not nominal):
            self.detected = False
            self.active = self.mode == "on"

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
        n, sb, sbb = len(eb), float(eb.sum()), float(eb @ eb)
        ea = b - self.period
        sa, saa = n * ea, n * ea * ea
        if not skip_first:
            e0, e0_out = float(d_in[0]) - self.period, d0 - self.period
            n, sb, sbb, sa, saa = n + 1, sb + e0, sbb + e0 * e0, sa + e0_out, saa + e0_out * e0_out
        self.jitter.add(n, sb, sbb, sa, saa)

    def _jitter1(self, d_in: float, d_out: float, limit: float) -> None:
        if 0.0 <= d_out <= limit:
            eb, ea = d_in - self.period, d_out - self.period
            self.jitter.add(1, eb, eb * eb, ea, ea * ea)

    def describe(self) -> dict[str, Any]:
        """The status: mode, whether repair is on and detected, jitter before/after (ms), counts."""
        before, after = self.jitter.ms()
        fit = self.fit
        fitted = self.active and fit is not None and fit.ready and not fit.provisional
        return {
            "mode": self.mode,
            "active": self.active,
            "detected": self.detected,
            "short_step_fraction": None if self.n_steps < 1 else round(self.n_short / self.n_steps, 4),
            "samples_per_stamp": round(self.k_avg, 2) if self.active else None,
            "jitter_before_ms": before,
            "jitter_after_ms": after,
            "rate_hz": 1.0 / fit.b if fitted else None,
            "samples_repaired": self.samples_repaired,
            "chunks_repaired": self.chunks_repaired,
            "restarts": self.restarts,
            "activations": self.activations,
        }
