"""Stamps liblsl deduced from 0: the first samples of a connection that began inside a chunk the sender pushed.

A sender's ``push_chunk(x, timestamp)`` stamps the chunk's first sample and marks the others "deduced"; the inlet's
data receiver gives each deduced sample the stamp before it plus one period, and at each connection it starts
from 0.0 (liblsl's ``data_receiver.cpp``: ``double last_timestamp = 0.0``). An inlet whose connection (a decoder's
start, a restarted worker's, a re-subscription) began after the chunk's first sample was queued thus gets the rest
of that chunk stamped ``1/sfreq, 2/sfreq, ...``: 5 of 40 inlets opened on a stream pushed in chunks of 2,000
samples (session 56). Published as they came, those stamps sent a restarted worker's outputs back ~4e4 s (the host's
clock) and its clock check warned of a sender "3.98e+04 s behind" (a CI-like run of the fault suite).

:class:`ZeroStartStamps` finds such a run (a sample stamped exactly ``0.0 + 1/sfreq``, then each stamp the one
before plus ``1/sfreq``, as liblsl computes them), holds it until the next sample, which carries the sender's own
stamp, and stamps the run back from that one at the nominal rate: ``t_next - (m - i)/sfreq`` for the run's ``m``
samples. Every sample is kept, in order; a stamp so placed is off from the sender's by the sender's push jitter. A
sender whose own clock starts at 0 gets the same stamps back (its next sample continues the run); one that computes
its stamps as liblsl does (``t += 1/sfreq`` from 0) continues the run itself, which is therefore held at most
:data:`HOLD_MAX_S` of samples and then handed on as it came.

A connection can end while a run is held (the sender gone before its next chunk), and the next one can begin inside a
chunk too: the sample after the run is then no stamp of the sender's (another run begins), or the run stamped back from
it would not come after the stamp handed on before it (the one the caller passes). The run is then stamped forward
from that stamp at the nominal rate (spread evenly up to the next stamp where they would reach it; a next stamp that
steps back is the sender's own step), never back past it: before, the first run was stamped back from the second
run's ``1/sfreq`` (stamps below 0). A held run is carried
to the puller of the same source's next inlet (:meth:`ZeroStartStamps.carry`), so a reopened source loses none. A run
still held when the stream ends is handed on by :meth:`ZeroStartStamps.flush`, stamped on from the stamp before it.
"""

from __future__ import annotations

import numpy as np

HOLD_MAX_S = 4.0
"""The longest run held, in seconds of samples (at least ``max_samples``): liblsl's runs are shorter than the chunk the
sender pushed (2,000 samples at 500 Hz in this module's test); a longer one is a sender's own clock from 0."""


class ZeroStartStamps:
    """Re-stamps, back from the next sample, the runs of stamps liblsl deduced from 0 (see the module).

    Parameters
    ----------
    sfreq : float
        The stream's nominal rate (> 0; at an irregular rate liblsl deduces no step and nothing is done here).
    max_samples : int
        The most rows :meth:`take` returns at once (the puller's); rows released beyond it wait for the next call.
    """

    def __init__(self, sfreq: float, max_samples: int) -> None:
        self.step = 0.0 + 1.0 / sfreq  # liblsl's first deduced stamp: last_timestamp (0.0) + 1.0 / srate
        self.period = 1.0 / sfreq
        self.max_samples = max_samples
        self.hold_max = max(max_samples, int(HOLD_MAX_S * sfreq))
        self.held: tuple[np.ndarray, np.ndarray] | None = None  # a run not yet followed by a stamped sample
        self.ready: tuple[np.ndarray, np.ndarray] | None = None  # released rows beyond max_samples
        self.restamped = 0  # samples the last take() re-stamped

    def starts(self, ts: np.ndarray) -> bool:
        """Whether ``ts`` holds a stamp a run begins with (the cheap test on every pulled chunk)."""
        return bool(ts[0] == self.step) if len(ts) == 1 else bool((ts == self.step).any())

    def carry(self, before: ZeroStartStamps) -> None:
        """Take over the rows ``before`` (the previous inlet's, same source and rate) held or released: they are
        handed on first."""
        self.held, self.ready = before.held, before.ready
        before.held = before.ready = None

    def pending(self) -> int:
        """Rows held or released and not handed on yet (a stop would lose them; :meth:`flush` hands them on)."""
        return sum(len(p[1]) for p in (self.ready, self.held) if p is not None)

    def flush(self, prev: float | None) -> tuple[np.ndarray, np.ndarray] | None:
        """Every row not handed on yet (the stream ends: no stamped sample will follow the held run), the run stamped
        on from the stamp before it at the nominal rate (``prev``: the last stamp handed on; None and nothing released:
        left as it came); None when there is none. :attr:`restamped` counts the run's samples placed."""
        self.restamped = 0
        parts = [p for p in (self.ready, self.held) if p is not None]
        if not parts:
            return None
        held, self.ready, self.held = self.held, None, None
        x = np.concatenate([p[0] for p in parts])
        ts = np.concatenate([p[1] for p in parts])
        if held is not None:
            lo = len(ts) - len(held[1])
            before = ts[lo - 1] if lo else prev
            if before is not None:
                ts[lo:] = before + self.period * np.arange(1, len(ts) - lo + 1)
                self.restamped = len(ts) - lo
        return x, ts

    def take(self, x: np.ndarray, ts: np.ndarray, prev: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The rows to hand on for the pulled ``x[n, C]``, ``ts[n]`` (``n`` may be 0): the rows released before,
        then these, each run re-stamped once a stamped sample follows it and held (with what follows) until one
        does; at most ``max_samples`` rows, copies. ``prev`` is the last stamp handed on before (None: none yet).
        :attr:`restamped` counts the samples this call re-stamped."""
        self.restamped = 0
        ready, held = self.ready, self.held
        self.ready = self.held = None
        parts = [p for p in (ready, held, (x, ts)) if p is not None]
        x = np.concatenate([p[0] for p in parts])
        ts = np.concatenate([p[1] for p in parts])
        end = self._restamp(ts, 0 if ready is None else len(ready[1]), prev)
        if end < len(ts):
            self.held = (x[end:], ts[end:])
            x, ts = x[:end], ts[:end]
        if len(ts) > self.max_samples:
            self.ready = (x[self.max_samples:], ts[self.max_samples:])
            x, ts = x[:self.max_samples], ts[:self.max_samples]
        return x, ts

    def _restamp(self, ts: np.ndarray, start: int, prev: float | None) -> int:
        """Re-stamp in place each run in ``ts[start:]`` that a sample follows; the index where a run that ends the
        chunk begins (it is held), else ``len(ts)``. ``prev``: the stamp before ``ts[0]``, if any."""
        i = start
        while len(hits := np.flatnonzero(ts[i:] == self.step)):
            lo = i + int(hits[0])
            hi, expect = lo + 1, self.step + self.period
            while hi < len(ts) and ts[hi] == expect:  # liblsl's accumulation, bit for bit
                hi += 1
                expect += self.period
            if hi - lo >= self.hold_max:  # a sender's own clock counting from 0 as liblsl counts: left as it is
                i = hi
                continue
            if hi == len(ts):  # no stamped sample after it yet
                return lo
            before = ts[lo - 1] if lo else prev
            if not self._place(ts, lo, hi, before):
                i = hi
                continue
            self.restamped += hi - lo
            i = hi
        return len(ts)

    def _place(self, ts: np.ndarray, lo: int, hi: int, before: float | None) -> bool:
        """Stamp the run ``ts[lo:hi]`` between ``before`` and ``ts[hi]`` (see the module); False: left as it came
        (another run follows it and no stamp came before it: nothing tells where it lies)."""
        m, after = hi - lo, ts[hi]
        back = after - self.period * np.arange(m, 0, -1)
        if np.allclose(back, ts[lo:hi], rtol=0.0, atol=1e-9 * max(1.0, abs(after))):  # the sender's own clock from
            return False  # 0 (n/sfreq, rounded otherwise than liblsl's sum): as it came, not counted (s70lsl F3)
        if after != self.step and (before is None or back[0] > before):
            ts[lo:hi] = back  # the sender's next stamp, the run right before it
        elif before is None:
            return False
        elif after == self.step or after <= before or before + self.period * m < after:
            # another run follows, or the next stamp steps back (the sender's clock did): on from the one before
            ts[lo:hi] = before + self.period * np.arange(1, m + 1)
        else:  # fewer periods between the two stamps than the run holds: spread evenly between them
            ts[lo:hi] = before + (after - before) * np.arange(1, m + 1) / (m + 1)
        return True


def restamped_message(count: int, sfreq: float) -> str:
    """What a decoder or a recording says of ``count`` samples re-stamped by :class:`ZeroStartStamps`."""
    return (f"{count} sample(s) came stamped from 0 by liblsl (1/sfreq, 2/sfreq, ...: the connection began inside a "
            f"chunk the sender pushed, whose first stamp it never got): each is stamped back from the next stamped "
            f"sample at the nominal rate ({sfreq:g} Hz), off from the sender's own stamp by its push jitter")
