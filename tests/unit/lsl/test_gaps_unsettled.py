"""A worker killed while it judged a suspected loss: its successor judges it again (audit s53fuzz F2b).

A loss is counted on the stamps after it (a settling window: 0.25 s of a regular stream, longer amid jitter) while
those samples are decoded and published. A worker killed before its window closed took the judgement with it, and its
successor counted its own gap from the last published row, after the first gap: that loss went uncounted (seed 1018:
451 samples of a 256 Hz stream). Now the tracker says where its accounting stands (:meth:`GapTracker.unsettled`) and
the successor resumes from there (``resume_after(since, received)``): its first stamps measure both losses.
"""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.core.status import Counters
from bci_stream.lsl.gaps import GapTracker
from test_gaps_restart_jitter import push_time_stamps

SFREQ, SKIP_AT, SKIPPED, SEEN = 500.0, 5000, 300, 60


def regular_stamps(first: int, n: int, rng: np.random.Generator) -> np.ndarray:
    return 100.0 + np.arange(first, first + n) / SFREQ


def feed(tracker: GapTracker, ts: np.ndarray, c: Counters, rng: np.random.Generator, max_pull: int) -> None:
    i = 0
    while i < len(ts):
        k = int(rng.integers(1, max_pull + 1))
        tracker.split(ts[i:i + k], c)
        i += k


@pytest.mark.parametrize("stamps", [regular_stamps, push_time_stamps], ids=["regular", "push-jitter"])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("max_pull", [1, 16, 512])
def test_a_loss_still_judged_at_a_kill_is_counted_by_the_successor(stamps, seed, max_pull):
    rng = np.random.default_rng(seed)
    killed, c_killed = GapTracker(SFREQ, 0.5), Counters()
    feed(killed, stamps(0, SKIP_AT, rng), c_killed, rng, max_pull)
    assert killed.unsettled() is None  # nothing suspected
    seen = stamps(SKIP_AT + SKIPPED, SEEN, rng)  # the samples after the gap it decoded before the kill
    killed.split(seen[:SEEN // 2], c_killed)
    killed.split(seen[SEEN // 2:], c_killed)
    since, received = killed.unsettled()
    assert c_killed.samples_lost == 0 and received == SEEN  # still judged: nothing counted yet
    down = int(rng.integers(200, 1500))  # the samples that went by while no worker ran
    successor, c = GapTracker(SFREQ, 0.5), Counters()
    successor.resume_after(since, received=received)
    feed(successor, stamps(SKIP_AT + SKIPPED + SEEN + down, 3000, rng), c, rng, max_pull)
    tolerance = 0 if stamps is regular_stamps else 1
    assert abs(c.samples_lost - (SKIPPED + down)) <= tolerance and c.gaps == 1, (c.samples_lost, SKIPPED + down)


def test_a_window_closed_is_no_longer_unsettled():
    """A regular stream's gap counted once its window is full: the accounting moves on (nothing to judge again)."""
    rng = np.random.default_rng(0)
    tracker, c = GapTracker(SFREQ, 0.5), Counters()
    tracker.split(regular_stamps(0, 1000, rng), c)
    tracker.split(regular_stamps(1000 + SKIPPED, 10, rng), c)
    assert tracker.unsettled() is not None and c.samples_lost == 0
    tracker.split(regular_stamps(1010 + SKIPPED, 200, rng), c)
    assert tracker.unsettled() is None and c.samples_lost == SKIPPED
