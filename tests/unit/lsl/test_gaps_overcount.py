"""Losses counted amid push jitter never run away (:class:`GapTracker`): the losses counted in a span of jittered
stamps were taken out of the base's rise there without bound, so an overcount made the measured rate error negative
(a sender "faster" than nominal whose base rose), which extrapolated the next chained window's base further down and
made the next count larger. Found by an exploratory run (session 39): a sender 2 % slower than nominal was counted
4,233,656 lost samples in 2 minutes at 250 Hz, and a link losing 10 samples every 0.25 s 17,269 and 29,134 where
4,600 were lost. Now such a span's rise is never below 0 when its base rose (regular stamps' counts stay exact)."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.core.status import Counters
from bci_stream.lsl.gaps import GapTracker

SECONDS = 120.0


def pushed(sfreq: float, real: float, keep: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Chunks of 10-32 samples sent at ``real`` Hz, each stamped at its push, late by U(0, 5) ms (liblsl back-computes
    the chunk's other stamps at the nominal rate); the samples ``keep`` leaves out are lost."""
    out, first, t_push, n = [], 0, 0.0, len(keep)
    while first < n:
        k = min(int(rng.integers(10, 33)), n - first)
        t_push = max(100.0 + (first + k) / real + rng.uniform(0.0, 0.005), t_push + 20e-6)
        m = int(keep[first:first + k].sum())
        if m:
            out.append(t_push - np.arange(m - 1, -1, -1) / sfreq)
        first += k
    return np.concatenate(out)


def counted(ts: np.ndarray, sfreq: float) -> int:
    tracker, c = GapTracker(sfreq, 0.5), Counters()
    for i in range(0, len(ts), 10):
        tracker.split(ts[i:i + 10], c)
    tracker.settle(c)
    return c.samples_lost


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("sfreq", [250.0, 500.0])
def test_a_link_losing_samples_every_quarter_second_is_never_overcounted(seed, sfreq):
    rng = np.random.default_rng(seed)
    n = int(SECONDS * sfreq)
    keep = np.ones(n, bool)
    for start in range(int(5 * sfreq), n - 10, int(0.25 * sfreq)):
        keep[start:start + 10] = False
    lost = int((~keep).sum())
    got = counted(pushed(sfreq, sfreq, keep, rng), sfreq)
    assert 0.6 * lost <= got <= lost, (got, lost)  # short amid the jitter, never over (29,134 of 4,640 before)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("sfreq", [250.0, 500.0])
def test_a_sender_2_percent_slow_is_never_counted_more_than_its_drift(seed, sfreq):
    """Nothing is lost: what is counted is the drift beyond the 1 % the base follows (a limit, see RISE), at most
    the sender's whole drift over the run (2 % of its samples), not millions."""
    rng = np.random.default_rng(seed)
    n = int(SECONDS * sfreq)
    got = counted(pushed(sfreq, sfreq * 0.98, np.ones(n, bool), rng), sfreq)
    assert got <= 0.02 * n, got
