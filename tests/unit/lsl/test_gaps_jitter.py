"""Lost samples and steps back of senders whose stamps carry push-time jitter (:class:`GapTracker`).

A sender pushing chunks of ``k`` samples with ``push_chunk(x, timestamp=local_clock())`` gives every chunk the
delay of its push (liblsl back-computes the chunk's other stamps at the nominal rate), so consecutive chunks overlap
when one push was later than the next. Live (``/work/helpers/s13/lost.md``) the tracker before counted false losses
(48 a minute for chunks of 32 at 1 kHz under 0-5 ms of push jitter, 105 to 326 for a sender 0.5 % slow) and
hundreds to thousands of steps back a minute (2,674 for chunks of 4 at 1 kHz) where nothing was lost and no clock
went back.
"""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.core.status import Counters
from bci_stream.lsl.gaps import GapTracker


def push_stamps(seconds: float, sfreq: float, k: int, rng: np.random.Generator, rate_error: float = 0.0,
                drops: tuple[int, ...] = ()) -> tuple[np.ndarray, int]:
    """Stamps received from a sender pushing ``k`` samples at a time, paced by its own clock at ``sfreq * (1 +
    rate_error)``: each push late by U(0, 2) ms of sleep, 1 % of them by U(10, 50) ms more (the pushes after a late
    one catch up at once), stamped with the push time, the chunk's other stamps back-computed by liblsl at the
    nominal rate. ``drops``: runs of samples the sender skips, evenly spread. Returns the stamps and the samples
    skipped."""
    n = int(seconds * sfreq) // k * k
    rate = sfreq * (1.0 + rate_error)
    skip = np.zeros(n, bool)
    for j, d in enumerate(drops):
        at = n * (j + 1) // (len(drops) + 1) + int(rng.integers(0, k))
        skip[at:at + d] = True
    # the draws of one rng.uniform(0, 2e-3), rng.random() [< 0.01: rng.uniform(10e-3, 50e-3)] per push, in that
    # order (the stamps are those of the seed's draws: the tests pass for these), taken as one array of doubles and
    # the generator then moved on by exactly the draws used
    pushes, state = n // k, rng.bit_generator.state
    u, used, t_push, t = rng.random(3 * pushes).tolist(), 0, [], 0.0
    for i in range(pushes):
        extra, late = 0.0 + 2e-3 * u[used], u[used + 1] < 0.01
        extra += 10e-3 + (50e-3 - 10e-3) * u[used + 2] if late else 0.0
        used += 3 if late else 2
        t = max(100.0 + (i * k + k) / rate + extra, t + 20e-6)
        t_push.append(t)
    rng.bit_generator.state = state
    rng.random(used)
    kept = ~skip
    # a chunk's kept samples stamped back from its push at the nominal rate, as if contiguous (liblsl's back-fill)
    per_chunk = kept.reshape(pushes, k)
    back = np.where(per_chunk, np.cumsum(per_chunk[:, ::-1], axis=1)[:, ::-1] - 1, 0).ravel()
    ts = np.repeat(np.array(t_push), k) - back / sfreq
    return ts[kept], int(skip.sum())


def track(ts: np.ndarray, sfreq: float, rng: np.random.Generator, max_pull: int = 12) -> Counters:
    """``ts`` through a tracker in pulls of 1..max_pull samples, settled at the end (as at a stop)."""
    tracker, c, i = GapTracker(sfreq, 0.5), Counters(), 0
    while i < len(ts):
        k = int(rng.integers(1, max_pull + 1))
        tracker.split(ts[i:i + k], c)
        i += k
    tracker.settle(c)
    return c


@pytest.mark.parametrize("sfreq", [250.0, 1000.0])
@pytest.mark.parametrize("k", [1, 4, 10, 32])
@pytest.mark.parametrize("rate_error", [0.0, -5e-3, 5e-3])
def test_push_time_stamps_lose_nothing_and_never_step_back(sfreq, k, rate_error):
    rng = np.random.default_rng(int(sfreq) + k)
    ts, _ = push_stamps(60.0, sfreq, k, rng, rate_error)
    if k > 1:
        assert (np.diff(ts) < 0).sum() > 0  # chunks overlap: stamps step back, by up to tens of periods
    c = track(ts, sfreq, rng)
    assert c.samples_lost == 0 and c.gaps == 0 and c.backward_steps == 0


@pytest.mark.parametrize("sfreq", [250.0, 1000.0])
@pytest.mark.parametrize("k", [1, 4, 10, 32])
@pytest.mark.parametrize("rate_error", [0.0, -5e-3])
def test_losses_amid_push_jitter_are_counted_short_never_over(sfreq, k, rate_error):
    """A loss amid push jitter reads short by up to a sample (the envelope before it rode above the stamps' floor);
    never over."""
    rng = np.random.default_rng(int(sfreq) + k + 7)
    drops = (5, 50, 20, 13)
    ts, removed = push_stamps(60.0, sfreq, k, rng, rate_error, drops)
    c = track(ts, sfreq, rng, max_pull=64)
    assert removed - len(drops) <= c.samples_lost <= removed
    assert c.gaps == len(drops) and c.backward_steps == 0


@pytest.mark.parametrize("sfreq", [250.0, 1000.0])
def test_stamps_late_by_up_to_three_periods_lose_nothing_and_never_step_back(sfreq):
    """Per-sample stamps each late by U(0, 3) periods (not kept monotonic): a late stamp then a timely one steps
    back by up to 2 periods, which no clock did."""
    rng = np.random.default_rng(11)
    ts = 100.0 + (np.arange(int(60 * sfreq)) + rng.uniform(0, 3, int(60 * sfreq))) / sfreq
    assert (np.diff(ts) < 0).sum() > 1000
    c = track(ts, sfreq, rng)
    assert c.samples_lost == 0 and c.gaps == 0 and c.backward_steps == 0


@pytest.mark.parametrize("back_s", [0.2, 5.0])
def test_a_clock_step_back_amid_push_jitter_is_counted_once(back_s):
    sfreq, rng = 500.0, np.random.default_rng(12)
    ts, _ = push_stamps(40.0, sfreq, 10, rng)
    ts[len(ts) // 2:] -= back_s  # the sender's clock set back mid-stream
    c = track(ts, sfreq, rng)
    assert c.backward_steps == 1 and c.samples_lost == 0 and c.gaps == 0


def test_a_slow_sender_amid_jitter_does_not_turn_its_drift_into_losses():
    """A sender 0.5 % slow from its first sample: the rate error is unknown for the first 512 samples, and every
    window then closes at its first timely stamp before the drift adds up (the tracker before counted 1-2 per
    window, and its rate estimate absorbed them: 105 a minute live)."""
    rng = np.random.default_rng(13)
    ts, _ = push_stamps(60.0, 1000.0, 1, rng, rate_error=-5e-3)
    c = track(ts, 1000.0, rng, max_pull=1)
    assert c.samples_lost == 0 and c.gaps == 0
