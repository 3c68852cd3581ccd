"""Lost samples of a sender that is itself starved of CPU (:class:`GapTracker`).

A thread pushing chunks stamped with their push time (``push_chunk(x, timestamp=local_clock())``) that wakes up
0.1-0.7 s late pushes its overdue chunks at once: all of them stamped at about the same time, so each chunk's stamps
are as late as it was overdue, the first by the whole stall and the last by almost nothing (liblsl back-computes a
chunk's other stamps: the burst's chunks overlap). The floor of the stamps is reached only at the burst's end. The
tracker before closed its window after 0.25 s amid the burst and counted the burst's lateness there as a loss, then
the rest of the burst as steps back: in these 18 runs, 130 to 961 lost samples (0 or 40 skipped), 4 to 97 steps back.
"""

from __future__ import annotations

import numpy as np
import pytest

from test_gaps_late_push import track


def starved_stamps(sfreq: float, k: int, rng: np.random.Generator, skipped: int) -> np.ndarray:
    """20 s of chunks of ``k``, each pushed at its schedule + U(0, 1) ms, except in 3 stalls of U(0.1, 0.7) s (at
    U(3, 17) s) whose chunks are all pushed when the thread wakes; ``skipped`` samples never sent at 10 s."""
    n = int(sfreq * 20)
    stalls = [(float(rng.uniform(3, 17)), float(rng.uniform(0.1, 0.7))) for _ in range(3)]
    out = []
    for first in range(0, n, k):
        due = (first + k) / sfreq
        late = rng.uniform(0.0, 1e-3)
        for at, length in stalls:
            if at <= due < at + length:  # overdue: pushed when the thread wakes up (at + length)
                late = max(late, at + length - due + rng.uniform(0.0, 1e-4))
        idx = np.arange(first, min(first + k, n))
        stamps = 100.0 + due + late - (len(idx) - 1 - np.arange(len(idx))) / sfreq
        out.append(stamps[(idx < n // 2) | (idx >= n // 2 + skipped)])
    return np.concatenate(out)


@pytest.mark.parametrize(("sfreq", "k"), [(500.0, 10), (1000.0, 10), (1000.0, 32)])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("skipped", [0, 40])
def test_a_starved_senders_catch_up_bursts_are_no_loss(sfreq, k, seed, skipped):
    rng = np.random.default_rng(seed)
    ts = starved_stamps(sfreq, k, rng, skipped)
    c = track(ts, sfreq, rng)
    assert skipped - 1 <= c.samples_lost <= skipped and c.gaps == (1 if skipped else 0), c
    assert c.backward_steps == 0
