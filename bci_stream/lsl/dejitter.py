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

Method. By LSL's convention a chunk's stamp is the time of its *last* sample. Runs of stamps less than 0.45 of a period
apart are *steps*; the last sample of each step is an *anchor* whose stamp is its own time. An exponentially forgetting
least-squares line ``t = a + b·i`` over the anchors (stamp against sample index; half-life ``halftime_s``; a ridge prior
on the slope at the nominal period, so one anchor already gives a line) gives every sample its time: liblsl's
``postproc_dejitter`` model (a recursive least-squares fit with forgetting), fitted on anchors only (a fit through every
stair sample would be late by (k-1)/2 periods), and vectorised over the anchors of a chunk. A stair-case stamp is its
chunk's push time, later than its last sample by a delay >= 0, so while a stair-case is detected the line is moved down
to the lower envelope of its latest anchors (their most negative residual, of up to 512 anchors of the last half-life):
late by about the least push delay, not by the mean (2.5 ms for delays of 0-5 ms). The state carries across chunks of
any size, including chunks that split a sender's chunk (a pull often takes the first sample of a chunk alone): a step is
an anchor once the next step starts. An anchor further than a tolerance from the line (max(1.5 periods, 2 ms, 5 times
the anchors' residual RMS)) is a gap or a clock step: the fit restarts there with the last slope, so the gap stays in
the repaired stamps and GapTracker counts it (a restart onto an earlier line holds the last stamp: time never steps
back). A new step whose stamp is already too far from the line is treated the same at once (its end assumed one usual
step on). But while a stair-case is detected, a stamp *later* than the line is first held back as a late push: a push
time is an upper bound of its samples' times, so it says the push was late, not that samples were lost; its step stays
on the line, and only a second late anchor in a row restarts the line, from the held step on (a chunk pushed 20 ms late,
or a starved sender's overdue chunks, were stamped up to that late, with hundreds of stamps equal after a stall; the
cost: a real gap's first step is stamped on the old line, early by the gap, the gap showing one step late). A stair-case
stamp is its chunk's push time, later than each of its samples: no repaired stamp goes after it (a sender starved of CPU
pushes its overdue chunks back to back when it runs again, the line restarts through their late stamp, and the next
chunk, pushed on time, was put up to a chunk in the future; it is held at its stamp instead). Raw stamps are the
sender's clock: the clock offset added later changes nothing here.

Why not liblsl's ``proc_dejitter`` flag: it fits every stamp (late by (k-1)/2 periods on a stair-case), it smooths
every stream, regular ones included, it never restarts at a gap (a gap is spread over the half-life, 90 s by
default, so it is no longer a gap), and the raw stamps, hence the jitter before repair, are lost.

Modes: ``auto`` repairs once a quarter of the sample steps are under 0.45 periods (beyond the fraction's binomial noise,
3 sigma: a sender with a fifth of its steps short, a per-sample stamp's jitter, is not taken for a stair-case by its
first few steps; a stair of 2 samples per stamp is found after ~25 samples, of 3 or more after 8; off again under 5 %)
while the mean step is 0.55-2 periods (a replay at speed 4 has short steps, all alike, but no stair-case; at speed 2
exactly, steps of half a period are none either; one sent 100 times faster is not told from repeated stamps; the
mean step counts each step up to :data:`STAIR_STEP_S`, 2 s, so that chunks stamped once of up to 2 s are found, and
up to 0.25 s when the short steps are not repeated stamps: a fast replay's pause does not make it look nominal);
``on`` always; ``off`` never; never for an irregular stream (sfreq 0). Until a stream's first step is complete
its stamps are provisional (``auto`` passes the first pull as it came). The jitter in
:meth:`TimestampRepair.describe` is the std of the sample steps before and after, over ~10 s, gaps left out
(unrepaired stair-case steps up to 2 s count).

The parts: :mod:`bci_stream.lsl.dejitter_fit` (the anchors' line, its restarts, the repaired stamps) and
:mod:`bci_stream.lsl.dejitter_jitter` (the jitter before and after); this module holds the modes, the detection and
the per-chunk call that ties them together.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bci_stream.lsl.dejitter_fit import AnchorFit
from bci_stream.lsl.dejitter_jitter import STAIR_STEP_S, JitterAccounting
from bci_stream.lsl.jitter import StepJitter
from bci_stream.lsl.linefit import LineFit

__all__ = ["TimestampRepair", "MODES", "HALFTIME_S", "STAIR_STEP_S"]

MODES = ("auto", "on", "off")
HALFTIME_S = 10.0
ON_FRACTION = 0.25
OFF_FRACTION = 0.05
MIN_STEPS = 8
ON_Z = 3.0  # the short-step fraction must pass ON_FRACTION by this many binomial standard deviations
ON_VAR = ON_FRACTION * (1.0 - ON_FRACTION)
# Mean step / period of a stair-case (or its first step: repeats): > 1/2 and short steps < 0.45 periods, so a stream
# at exactly twice its rate is none; KEEP_RANGE once detected (a big stair's mean dips to ~0.5 before its 2nd step).
RATE_RANGE = (0.55, 2.0)
KEEP_RANGE = (0.4, 2.5)
SAME_STAMPS = 0.01
SHORT_STEP = 0.45
# Short steps under ZERO_STEP periods are repeated stamps. When most short steps are (a stair-case), the mean step
# counts each step up to STAIR_STEP_S; otherwise (short steps all alike: a fast replay) up to FAST_STEP_S, so that a
# pause of a fast sender does not make its mean look nominal.
ZERO_STEP, FAST_STEP_S = 0.05, 0.25


class TimestampRepair(AnchorFit, JitterAccounting):
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
        self.sfreq = float(sfreq)
        self.mode = mode
        self.period = 1.0 / sfreq if sfreq > 0 else 0.0
        self.same = SHORT_STEP * self.period  # steps up to this long: the same stamp
        self.zero = ZERO_STEP * self.period  # steps up to this long: a repeated stamp
        self.gap_step = 1.5 * self.period  # repaired steps longer than this: gaps
        self.halftime_samples = halftime_s * sfreq
        self.fit = LineFit(self.period, self.halftime_samples) if sfreq > 0 else None
        self.saved: LineFit | None = None  # the line before a restart that a step's first stamp alone decided
        self.ramp = np.arange(64, dtype=np.float64)
        # steps in the detection's memory (then halved): 4 of the longest stair-case steps that count (STAIR_STEP_S),
        # so that a pull that holds a stair's one long step, or misses it, moves the mean step little
        self.window = max(64.0, 2.0 * sfreq, 4.0 * STAIR_STEP_S * sfreq)
        self.jitter = StepJitter(max(64.0, 10.0 * sfreq))
        self.n = 0  # samples seen
        self.last_raw = math.nan  # the last stamp in
        self.last_out = math.nan  # and out
        self.open_first = 0  # index of the first sample of the latest step
        self.n_steps = self.n_short = 0.0  # sample steps, and those shorter than SHORT_STEP periods
        self.t_steps = 0.0  # their summed length (each clipped to [0, STAIR_STEP_S]): the sender's mean rate
        self.t_fast = self.n_zero = 0.0  # the same clipped to FAST_STEP_S; the steps under ZERO_STEP periods
        self.detected = False
        self.active = mode == "on" and sfreq > 0
        self._new_steps()
        self.samples_repaired = self.chunks_repaired = self.restarts = self.activations = 0
        self.late_pushes = 0  # steps stamped later than the line, held back as late pushes (AnchorFit._held)
        self.longest_run = 0  # samples: the longest run of one repeated stamp seen (chunks of many samples, one stamp)
        self.run_first = 0  # index of the first sample of the latest run of one stamp

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
        if bpos is not None and 0.0 <= lo < self.zero:  # repeated stamps: the longest run of one stamp (a chunk
            starts = np.flatnonzero(d >= self.zero)  # stamped once; a fast replay's short steps are no repeats)
            runs = np.diff(np.r_[self.run_first - idx0, starts, n])
            self.longest_run = max(self.longest_run, int(runs.max()))
            if len(starts):
                self.run_first = idx0 + int(starts[-1])
        else:
            self.run_first = idx0 + n - 1
        if bpos is not None:
            tail = d[first_ever:]
            self.n_zero += int(np.count_nonzero((tail >= 0.0) & (tail < self.zero)))
        if lo >= 0.0 and hi <= FAST_STEP_S:
            span = float(ts[-1] - ts[0]) + (0.0 if first_ever else float(d[0]))
            self.t_steps += span
            self.t_fast += span
        else:
            clipped = np.clip(d[first_ever:], 0.0, STAIR_STEP_S)
            self.t_steps += float(clipped.sum())
            self.t_fast += float(np.minimum(clipped, FAST_STEP_S).sum())
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
            capped = False  # a stair-case stamp is its chunk's push time: no sample of the chunk goes after it
            if self.detected or 0.0 <= lo < self.zero:  # detected: every stamp is one (a step's first sample too)
                over = out > ts
                if not self.detected:  # 'on' without a stair-case: only a repeated stamp is known to be one
                    shared = (d >= 0.0) & (d < self.zero)
                    shared[:-1] |= shared[1:]
                    over &= shared
                if capped := bool(over.any()):
                    out[over] = ts[over]
            if not first_ever and lo >= 0.0 and (out[0] < self.last_out or cut or capped):  # time never goes back
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
            if 0.0 <= d < self.zero:  # a repeated stamp: its run goes on
                self.longest_run = max(self.longest_run, idx - self.run_first + 1)
            else:
                self.run_first = idx
            self.n_steps += 1.0
            self.n_short += 0.0 if boundary else 1.0
            self.t_steps += min(max(d, 0.0), STAIR_STEP_S)
            self.t_fast += min(max(d, 0.0), FAST_STEP_S)
            self.n_zero += 1.0 if 0.0 <= d < self.zero else 0.0
            self._detect()
        out = t
        if self.active:
            if boundary and idx:
                self._anchor1(idx - 1, prev, [])
            if boundary:
                self.open_first = idx
            self._open_step(t if boundary else math.nan, t, self.open_first, idx, [])
            line = float(self.fit.at(idx)) + self.floor()
            line = min(line, t) if self.detected or (idx and 0.0 <= d < self.zero) else line  # as in apply
            out = line if not idx or d < 0.0 else max(line, self.last_out)
            self.samples_repaired += 1
            self.chunks_repaired += 1
        elif boundary:
            self.open_first = idx
        if idx:
            self._jitter1(d, out - self.last_out, self.gap_step if self.active else self._limit())
        self.n += 1
        self.last_raw, self.last_out = t, out
        return ts if out == t else np.array([out])

    # -- detection -------------------------------------------------------------------------------------------

    def _detect(self) -> None:
        if self.n_steps > self.window:
            self.n_steps *= 0.5
            self.n_short *= 0.5
            self.t_steps *= 0.5
            self.t_fast *= 0.5
            self.n_zero *= 0.5
        if self.n_steps < MIN_STEPS:
            return
        frac = self.n_short / self.n_steps
        # A stair-case sender runs at its nominal rate on average; a stream sent faster or slower than its
        # nominal rate (a replay at speed 4) has short steps too, but no stamps to repair.
        stairs = self.n_zero >= 0.5 * self.n_short  # the short steps are repeated stamps, not a fast sender's
        ratio = (self.t_steps if stairs else self.t_fast) / (self.n_steps * self.period)
        lo, hi = KEEP_RANGE if self.detected else RATE_RANGE
        nominal = lo <= ratio <= hi or ratio < SAME_STAMPS
        if not self.detected and frac >= ON_FRACTION + ON_Z * math.sqrt(ON_VAR / self.n_steps) and nominal:
            self.detected = True
            if self.mode == "auto":
                self.active = True
                self.activations += 1
                self.fit = LineFit(self.period, self.halftime_samples)
                self.saved = None
                self._new_steps()
        elif self.detected and (frac < OFF_FRACTION or not nominal):
            self.detected = False
            self.active = self.mode == "on"

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
            "late_pushes": self.late_pushes,
            "activations": self.activations,
            "longest_stamp_run": self.longest_run,
            "warning": self.long_runs_warning(),
        }

    def long_runs_warning(self) -> str | None:
        """Why the decoded stamps of a stream sending chunks stamped once over :data:`STAIR_STEP_S` are late (``auto``
        does not find them; ``on`` repairs them), or None."""
        if self.mode != "auto" or self.active or self.longest_run * self.period <= STAIR_STEP_S:
            return None
        late = (self.longest_run - 1) * self.period
        return (f"chunks of up to {self.longest_run} samples share one stamp ({late:.3g} s): timestamp_repair 'auto' "
                f"finds chunks stamped once of up to {STAIR_STEP_S:g} s, so the decoded stamps are the chunks' own "
                f"(up to {late:.3g} s off); set timestamp_repair 'on' to give each sample its own")
