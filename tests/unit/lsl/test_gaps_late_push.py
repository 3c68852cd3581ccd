"""One late push of a long chunk is no loss (:class:`GapTracker`; audit s60lsl F1).

pylsl's plain ``push_chunk(x)`` stamps a chunk's last sample with its push time and liblsl deduces the others back at
the nominal rate, so a chunk pushed late (a sender thread preempted once) is late by the same amount in every sample,
and the next, timely push is back on the line. A chunk of 0.25 s or more filled the tracker's short settling window
with its own late stamps: their lateness was counted lost and the next push as a step back (16 and 48 samples at 160 Hz
for chunks of 1000 and 160 late by 100 and 300 ms). A real loss after such a push is still counted. (A late push among
a stream's first three is counted as before: two timely push boundaries first show that the stream pushes.)"""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.core.status import Counters
from bci_stream.lsl.gaps import GapTracker


def push_time_stamps(sfreq: float, k: int, n: int, late_chunk: int, late_s: float, rng: np.random.Generator,
                     skip_at: int | None = None, skipped: int = 0, jitter_s: float = 1e-3) -> np.ndarray:
    """``n`` samples in chunks of ``k``, each pushed at its schedule + U(0, ``jitter_s``) and stamped as liblsl stamps
    a chunk pushed without a timestamp; chunk ``late_chunk`` pushed ``late_s`` late; ``skipped`` samples from
    ``skip_at`` never sent."""
    out = []
    for j, first in enumerate(range(0, n, k)):
        idx = np.arange(first, min(first + k, n))
        push = 100.0 + (idx[-1] + 1) / sfreq + rng.uniform(0.0, jitter_s) + (late_s if j == late_chunk else 0.0)
        stamps = push - (idx[-1] - idx) / sfreq
        keep = np.ones(len(idx), bool) if skip_at is None else (idx < skip_at) | (idx >= skip_at + skipped)
        out.append(stamps[keep])
    return np.concatenate(out)


def track(ts: np.ndarray, sfreq: float, rng: np.random.Generator) -> Counters:
    """The counts of a tracker fed ``ts`` in pulls of 1..63 samples, as a decoder's, then settled (a stop)."""
    tracker, c, i = GapTracker(sfreq, 0.5), Counters(), 0
    while i < len(ts):  # pulls of 1..63 samples, as a decoder's
        m = int(rng.integers(1, 64))
        tracker.split(ts[i:i + m], c)
        i += m
    tracker.settle(c)
    return c


CASES = [(160.0, 1000, 3, 0.1), (160.0, 160, 5, 0.3), (160.0, 64, 20, 0.2), (160.0, 160, 5, 0.6),
         (500.0, 500, 3, 0.4), (1000.0, 250, 10, 0.15), (160.0, 40, 3, 0.3)]


@pytest.mark.parametrize(("sfreq", "k", "late_chunk", "late_s"), CASES)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("jitter_s", [1e-3, 3e-5])
def test_one_late_push_of_a_long_chunk_is_no_loss_and_no_step_back(sfreq, k, late_chunk, late_s, seed, jitter_s):
    """Push jitter of 0-1 ms, or of 0-30 µs (a sender on an absolute schedule: at 160 Hz under the tolerance of a
    delay draw, so the stream looks regular, and the late push, late by whole periods, too: the live case of the
    audit, 100 ms = 16 periods late)."""
    rng = np.random.default_rng(seed)
    ts = push_time_stamps(sfreq, k, max(int(14 * sfreq), (late_chunk + 3) * k), late_chunk, late_s, rng,
                          jitter_s=jitter_s)
    c = track(ts, sfreq, rng)
    assert (c.samples_lost, c.gaps, c.backward_steps) == (0, 0, 0), c


@pytest.mark.parametrize(("sfreq", "k", "late_chunk", "late_s"), CASES)
def test_a_loss_after_the_late_push_is_still_counted(sfreq, k, late_chunk, late_s):
    rng = np.random.default_rng(7)
    n = max(int(14 * sfreq), (late_chunk + 6) * k)
    skip_at = (late_chunk + 3) * k + k // 2  # inside a later chunk: its stamps after the skip are late for good
    ts = push_time_stamps(sfreq, k, n, late_chunk, late_s, rng, skip_at=skip_at, skipped=40)
    c = track(ts, sfreq, rng)
    assert (c.samples_lost, c.gaps, c.backward_steps) == (40, 1, 0), c


def test_a_lone_clock_correction_of_an_exact_grid_leaves_a_loss_before_the_end_counted():
    """A stream stamped on an exact grid (a replay) with one step off whole periods (its clock corrected by 12.3 ms) is
    not taken for a pushing stream: 25 samples lost 0.6 s before it stops are counted (review s60: none were)."""
    sfreq = 160.0
    t = 1000.0 + np.arange(4000) / sfreq
    t[1000:] -= 0.0123
    c = track(np.r_[t[:3875], t[3900:]], sfreq, np.random.default_rng(3))
    assert (c.samples_lost, c.gaps) == (25, 1), c


@pytest.mark.parametrize(("sfreq", "k"), [(160.0, 32), (160.0, 160), (500.0, 1000)])
def test_a_loss_in_the_last_push_before_the_stream_stops_is_counted(sfreq, k):
    """The stop closes the window as any other (review s60: a window of one push's stamps was kept open, its loss never
    counted)."""
    rng = np.random.default_rng(5)
    n = 12 * k
    ts = push_time_stamps(sfreq, k, n, -1, 0.0, rng, skip_at=n - k // 2, skipped=8, jitter_s=3e-5)
    c = track(ts, sfreq, rng)
    assert (c.samples_lost, c.gaps) == (8, 1), c


@pytest.mark.parametrize("late_chunk", [3, 5])
def test_a_stall_between_long_pushes_leaves_the_late_push_to_the_next(late_chunk):
    """Chunks of 1000 at 160 Hz (6.25 s) stall the decoder (stall_timeout_s 1 s) between every two pushes: the stall
    settles the tracker, and closed the window of the late push's stamps (live: 16 lost, 1 step back)."""
    sfreq, k = 160.0, 1000
    ts = push_time_stamps(sfreq, k, 8 * k, late_chunk, 0.1, np.random.default_rng(2), jitter_s=3e-5)
    tracker, c = GapTracker(sfreq, 0.5), Counters()
    for first in range(0, len(ts), k):
        for i in range(first, first + k, 50):
            tracker.split(ts[i:i + 50], c)
        tracker.settle(c, final=False)  # the stall until the next push
    tracker.settle(c)
    assert (c.samples_lost, c.gaps, c.backward_steps) == (0, 0, 0), c
