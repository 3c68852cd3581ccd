"""What a stream's timestamps say about its sender: the rate it really sends at, and whether it stamps on LSL's clock.

Two sender mistakes decode "fine" and wrong without them, so the worker says so (status ``timestamps``, the log
and the recording's events; decoding goes on):

* **A wrong nominal rate.** An app that declares 160 Hz and sends 128 Hz (or a 250-Hz declaration of a 200-Hz
  board) runs the model's filters, windows and decision times at the wrong frequencies: every output is computed,
  none is right. The rate is measured from the stamps, as samples per second of stamps, over at least
  :data:`MIN_WINDOW_S` of contiguous data (a gap of over :data:`BREAK_S` or a step back of over :data:`BACK_S` starts
  a new window, from
  :data:`SETTLE_S` of stamps after it: a sender starved of CPU for longer than :data:`BREAK_S` then pushes its overdue
  samples at once, stamped at push time, and those would read as a rate above nominal for a whole window) and at
  least :data:`STEPS_PER_WINDOW` times the longest step between stamps (a sender stamping chunks of 0.4 s once needs
  20 s for its stair-case not to bias the figure; chunks of over :data:`BREAK_S` stamped once step by more than it,
  so each starts a new window: such a sender is not measured, no figure and no warning); off the nominal rate by
  more than :data:`RATE_TOLERANCE` is said (and ends within half of it); slower than it by more than the 1 % the gap
  counting takes as on time (``RISE``) too, when the stamps' jitter leaves the figure that precise: that shortfall is
  counted in ``samples_lost`` (a sender 2 % slow: 1 sample in 50). Stamps that advance less than
  :data:`STUCK_SPAN_S` over :data:`STUCK_SAMPLES_S` of samples are judged then (a rate over 4 times the nominal
  one), and said as a frozen or backward clock when they did not advance at all. A crystal is off by far less
  (0.01 %). A replay faster or slower than real time (``--speed``) is also off, on purpose: ``bci-stream replay``
  declares its speed, which is then expected, and the warning says so.
* **Stamps on another clock.** A sender that stamps with Unix time (``time.time()``, ~1.8e9 s) or milliseconds
  instead of ``pylsl.local_clock()`` gives latencies of decades, and every cue of a marker stream on LSL's clock is
  ``missed`` (its outputs are years away). Stamps more than :data:`CLOCK_FAR_S` from this host's clock (after the
  clock offset) are said to be on another clock.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pylsl

from bci_stream.lsl.gap_rules import RISE

__all__ = ["StampChecks", "MIN_WINDOW_S", "RATE_TOLERANCE", "CLOCK_EVERY_S", "CLOCK_FAR_S", "SETTLE_S",
           "STEPS_PER_WINDOW", "STUCK_SAMPLES_S", "STUCK_SPAN_S"]

#: Seconds of contiguous stamps the rate is measured over, at least.
MIN_WINDOW_S = 10.0
#: The window spans at least this many times the longest step between two stamps (stair-case senders).
STEPS_PER_WINDOW = 50
#: Relative difference between the measured and the nominal rate that is said (3 %: 155.2 or 164.8 Hz at 160); a
#: warning said ends within half of it. Below the nominal rate, from 1 % (``RISE``) when the stamps are regular
#: enough to tell (:meth:`StampChecks._bound`): the gap counting counts a slower sender's shortfall as losses.
RATE_TOLERANCE = 0.03
#: A step between stamps longer than this (s), forward, starts a new window (a gap, a restarted sender, a clock step).
BREAK_S = 0.5
#: Steps in a row over :data:`BREAK_S` after which the rate is judged on them: each starts a new window, so a sender
#: whose every step is one (stamps in milliseconds: 4 s a sample at 250 Hz) was never measured, nor said; millions of
#: samples were counted lost with no rate warning (audit s70lsl F1).
SPARSE_STEPS = 10
#: A step back longer than this (s) does too (smaller ones are jitter): a clock stepped back 0.49 s, kept in the
#: window, read as a sender 5 % fast, a false rate warning (audit s70worker F4).
BACK_S = 0.1
#: Seconds of stamps after a break that no window counts: a starved sender's overdue samples, pushed back to back
#: when it runs again and stamped then, lie within it (their stamps span the burst's few ms of pushing and a chunk).
SETTLE_S = 1.0
#: Stamps further than this (s) from this host's clock, mapped, are on another clock (an hour: far beyond any
#: backlog, latency or inlet buffer, and below any Unix time or millisecond count).
CLOCK_FAR_S = 3600.0
#: Seconds of the sender's stamps between two judgements of its clock.
CLOCK_EVERY_S = 1.0
#: A window of this many seconds of samples (at the nominal rate) whose stamps advanced less than :data:`STUCK_SPAN_S`
#: is a sender's frozen or backward clock (a stair-case sender's stamps advance as its samples do).
STUCK_SAMPLES_S, STUCK_SPAN_S = 2 * MIN_WINDOW_S, MIN_WINDOW_S / 2


class StampChecks:
    """The sender's measured rate and clock, from the raw stamps of the pulled chunks.

    Parameters
    ----------
    sfreq
        The stream's nominal rate (Hz; > 0).
    speed
        The replay speed the stream declares (``desc/acquisition/replay_speed``, ``bci-stream replay --speed``): it
        sends ``sfreq * speed`` samples per second of its stamps, on purpose; 1 for a live sender.
    """

    def __init__(self, sfreq: float, speed: float = 1.0) -> None:
        self.sfreq = float(sfreq)
        self.speed = float(speed)
        self._stuck_n = STUCK_SAMPLES_S * self.sfreq * self.speed  # the samples of a stuck window (_window_done)
        self.rate_hz: float | None = None  # the last full window's measured rate
        self.rate_warning: str | None = None
        self.clock_warning: str | None = None
        self.clock_ahead_s: float | None = None  # the mapped stamps minus this host's clock, when far (else None)
        self._clock_at: float | None = None  # the sender's stamp the clock was last judged at (clock_due)
        self._seen: float | None = None  # the last stamp taken, counted or not (breaks are found against it)
        self._settle_to: float | None = None  # after a break: stamps below it are not counted (SETTLE_S)
        self._sparse_n, self._sparse_t0 = 0, 0.0  # forward breaks in a row up to the last stamp, and where they began
        self._start()

    def _start(self, t: float | None = None) -> None:
        self._t0 = t  # stamp of the window's first sample
        self._n = 0  # samples after that first one
        self._t_last = t
        self._max_step = 0.0

    def clock_due(self, ts: np.ndarray) -> bool:
        """Is the clock to be judged with this chunk (stamps ``ts``): the first chunk, then once :data:`CLOCK_EVERY_S`
        of the sender's stamps later (the caller then maps the last stamp and reads this host's clock; between, it
        passes None: a chunk of one sample costs a few µs on the decoding path, not the mapping's)."""
        last = float(ts[-1]) if len(ts) else math.nan
        if self._clock_at is not None and abs(last - self._clock_at) < CLOCK_EVERY_S:
            return False
        if math.isfinite(last):
            self._clock_at = last
        return True

    def take(self, ts: np.ndarray, clock: Any) -> list[tuple[str, str | None]]:
        """:meth:`feed` of one pulled chunk's stamps ``ts``, the clock judged when due (:meth:`clock_due`): its last
        stamp mapped by ``clock`` (a :class:`~bci_stream.lsl.source.ClockOffset`) and this host's clock read then."""
        if self.clock_due(ts):
            return self.feed(ts, float(clock.mapped(ts[-1:])[0]), pylsl.local_clock())
        return self.feed(ts, None, None)

    def feed(self, ts: np.ndarray, mapped_last: float | None, now: float | None) -> list[tuple[str, str | None]]:
        """Take one pulled chunk's raw stamps ``ts`` (the sender's clock), its last stamp mapped to this host's clock
        (``mapped_last``) and this host's clock ``now`` (both None: the clock is not judged with this chunk,
        :meth:`clock_due`). The warnings that started or ended: ``(kind, message)``, kind ``rate_warning`` or
        ``clock_warning``, message None when it ended (a warning's figures follow the stream in :meth:`describe`
        without being said again)."""
        before = (self.rate_warning, self.clock_warning)
        if mapped_last is not None and now is not None:
            self._clock(mapped_last - now)
        if len(ts) == 1:  # the common case at high rates: no array work
            if math.isfinite(t := float(ts[0])):
                if self._seen is not None and ((brk := t - self._seen > BREAK_S) or self._sparse_n):  # (no run, no
                    self._sparse(brk, int(brk), self._seen if brk else t, t)  # break: nothing to note per sample)
                self._rate_one(t)
        elif len(ts) and np.isfinite(ts).all():
            ts = np.asarray(ts, dtype=np.float64)
            stamps = ts if self._seen is None else np.concatenate(([self._seen], ts))  # each step ends at a sample
            if len(stamps) > 1:
                calm = np.flatnonzero(np.diff(stamps) <= BREAK_S)  # the steps that break nothing
                last = int(calm[-1]) + 1 if len(calm) else 0  # where the run of breaks up to the last stamp starts
                self._sparse(not len(calm), len(stamps) - 1 - last, float(stamps[last]), float(ts[-1]))
            self._rate(ts)
        return [(kind, now_) for kind, was, now_ in (("rate_warning", before[0], self.rate_warning),
                                                     ("clock_warning", before[1], self.clock_warning))
                if (now_ is None) != (was is None)]

    def _clock(self, ahead: float) -> None:
        if not math.isfinite(ahead) or abs(ahead) <= CLOCK_FAR_S:
            self.clock_warning = self.clock_ahead_s = None
            return
        self.clock_ahead_s = ahead
        if self.clock_warning is not None:  # said once, with the figure it was found with
            return
        side = "ahead of" if ahead > 0 else "behind"
        self.clock_warning = (f"the stream's timestamps are {abs(ahead):.4g} s {side} this host's LSL clock "
                              f"(more than {CLOCK_FAR_S:g} s): the sender does not stamp with LSL's local_clock() "
                              "(Unix time, e.g. time.time(), or another unit?), or it is on another host whose clock "
                              "offset is unknown (clock_estimate null: its UDP probes unanswered); latencies are "
                              "meaningless and cues of a marker stream on this host's clock cannot be placed (scored "
                              "as missed): stamp samples with pylsl.local_clock(), or push them without a timestamp")

    def _sparse(self, all_breaks: bool, n: int, start: float | None, t_last: float) -> None:
        """The run of forward breaks (steps over :data:`BREAK_S`) up to stamp ``t_last``: ``n`` more in a row when
        ``all_breaks``, else a new run of ``n`` from stamp ``start``. :data:`SPARSE_STEPS` of them judge the rate."""
        if all_breaks:
            if self._sparse_n == 0:
                self._sparse_t0 = float(start)
            self._sparse_n += n
        else:
            self._sparse_n, self._sparse_t0 = n, float(start)
        if self._sparse_n >= SPARSE_STEPS and t_last > self._sparse_t0:
            self.rate_hz = self._sparse_n / (t_last - self._sparse_t0)
            self._judge(RATE_TOLERANCE)
            self._sparse_n = 0

    def _break(self, t: float) -> None:
        """A break before stamp ``t``: the window ends uncounted, the next starts :data:`SETTLE_S` after ``t``."""
        self._start()
        self._settle_to = t + SETTLE_S

    def _rate_one(self, t: float) -> None:
        """:meth:`_rate` of a chunk of one stamp ``t``."""
        if self._seen is not None and not -BACK_S <= t - self._seen <= BREAK_S:
            self._break(t)
        self._seen = t
        if self._settle_to is not None:
            if t < self._settle_to:
                return
            self._settle_to = None
        if self._t0 is None:
            self._start(t)
            return
        self._max_step = max(self._max_step, t - self._t_last)
        self._n += 1
        self._t_last = t
        self._window_done()

    def _rate(self, ts: np.ndarray) -> None:
        if self._seen is not None and not -BACK_S <= ts[0] - self._seen <= BREAK_S:
            self._break(float(ts[0]))
        steps = np.diff(ts)
        if len(steps) and ((breaks := (steps > BREAK_S) | (steps < -BACK_S))).any():  # a break in the chunk: after it
            cut = int(np.flatnonzero(breaks)[-1]) + 1
            ts = ts[cut:]
            self._break(float(ts[0]))
        self._seen = float(ts[-1])
        if self._settle_to is not None:  # a starved sender's overdue samples, stamped as pushed: not counted
            if not len(ts := ts[ts >= self._settle_to]):
                return
            self._settle_to = None
        steps = np.diff(ts)
        if self._t0 is None:
            self._start(float(ts[0]))
            ts, steps = ts[1:], steps[1:] if len(steps) else steps
            if not len(ts):
                return
        edge = ts[0] - self._t_last
        self._max_step = max(self._max_step, edge, float(steps.max()) if len(steps) else 0.0)
        self._n += len(ts)
        self._t_last = float(ts[-1])
        self._window_done()

    def _window_done(self) -> None:
        """Judge the rate when the window is long enough, and start the next one where it ended; a window of
        :data:`STUCK_SAMPLES_S` of samples whose stamps advanced less than :data:`STUCK_SPAN_S` is judged then (its
        rate; none, or back: :meth:`_stuck`): a frozen clock's stamps never make a window long enough."""
        span = self._t_last - self._t0
        if span < max(MIN_WINDOW_S, STEPS_PER_WINDOW * self._max_step) and (span >= STUCK_SPAN_S
                                                                             or self._n < self._stuck_n):
            return
        if span <= 0:  # (review s63b F3: a stuck window that advanced, over 4 times the nominal rate, is a rate)
            self._stuck(span)
            return
        self.rate_hz = self._n / span
        self._judge()
        self._start(self._t_last)  # the next window starts where this one ended: a sender that changes is followed

    def _stuck(self, span: float) -> None:
        """The window's stamps advanced ``span`` s (<= 0) over :data:`STUCK_SAMPLES_S` of samples: a sender whose clock
        is frozen or runs backwards, or that stamps its samples alike, said as a rate warning (before, nothing: its
        windows never grew long enough to be judged; audit s63fault F6). The next window starts here."""
        n, nominal = self._n, self.sfreq * self.speed
        self.rate_hz = None
        how = "do not advance" if span == 0 else "run backwards"
        self.rate_warning = (f"the stream's timestamps {how} over {n} samples ({n / nominal:.3g} s at {nominal:g} Hz): "
                             "the sender's clock is frozen or runs backwards, or it stamps its samples alike; the "
                             "decoded stamps (its own) say nothing of when they were taken, so latencies and the "
                             "placement of cues are wrong: stamp samples with pylsl.local_clock(), or push them "
                             "without a timestamp")
        self._start(self._t_last)

    def _bound(self, ratio: float) -> float:
        """The relative rate error said (:data:`RATE_TOLERANCE`; slower: from :data:`~bci_stream.lsl.gap_rules.RISE`,
        as far as the window's stamps tell it: its longest step over its span, a push's jitter at either end)."""
        if ratio >= 1.0:
            return RATE_TOLERANCE
        return min(RATE_TOLERANCE, RISE + self._max_step / max(self._t_last - self._t0, MIN_WINDOW_S))

    def _judge(self, bound: float | None = None) -> None:
        expected = self.sfreq * self.speed
        ratio = self.rate_hz / expected
        bound = self._bound(ratio) if bound is None else bound
        # said beyond the bound, ended within half of it: a rate near the bound (a sender losing ~3 % of its
        # packets) is not said and unsaid at every window
        if abs(ratio - 1.0) <= (bound if self.rate_warning is None else bound / 2):
            self.rate_warning = None
            return
        declared = (f"its nominal {self.sfreq:g} Hz" if self.speed == 1.0 else
                    f"its nominal {self.sfreq:g} Hz times the replay speed {self.speed:g} it declares ({expected:g})")
        self.rate_warning = (f"the stream sends {self.rate_hz:.4g} samples per second of its timestamps, not "
                             f"{declared} ({ratio:.3g}×): if its samples are taken at that rate, the model's filters "
                             f"and decision times (made for {self.sfreq:g} Hz) are wrong and so are its outputs: fix "
                             "the sender's declared rate, or resample; a sender that loses samples in short gaps "
                             "(counters.samples_lost) sends fewer per second of its stamps too"
                             f"{self._shortfall(ratio)}; a replay faster or "
                             "slower than real time that does not declare its speed (bci-stream replay --speed does, "
                             "as desc/acquisition/replay_speed) sends samples of the nominal rate at another pace, on "
                             "purpose, and decodes right")

    @staticmethod
    def _shortfall(ratio: float) -> str:
        """What the losses counted are, at a rate below the nominal one by over what gap counting takes as on time."""
        if ratio >= 1.0 - RISE:
            return ""
        return (f", and the reverse: the gap counting takes a sender up to {RISE * 100:g} % slower than its nominal "
                "rate as on time, so this one's shortfall is counted in counters.samples_lost, as lost samples")

    def describe(self) -> dict[str, Any]:
        """Status fields (merged into ``timestamps``): ``sender_rate_hz``, ``rate_warning``, ``clock_warning``,
        ``clock_ahead_s`` (the mapped stamps minus this host's clock, while beyond :data:`CLOCK_FAR_S`)."""
        return {"sender_rate_hz": None if self.rate_hz is None else round(self.rate_hz, 3),
                "rate_warning": self.rate_warning, "clock_warning": self.clock_warning,
                "clock_ahead_s": None if self.clock_ahead_s is None else round(self.clock_ahead_s, 3)}
