"""A burst of markers pushed at once reaches the follower whole: 5,000 string markers in one ``push_chunk`` (a task
program sending its schedule). Before, the marker inlet held 3,000 samples (liblsl's ``max_buflen`` of 30 s is
30 × 100 samples for an irregular stream) and dropped the oldest 2,000 without a count (found by an exploratory run
with ``bci-stream record``). A real :class:`MarkerFollower` thread on a real LSL outlet (loopback)."""

from __future__ import annotations

import time

import pylsl
import pytest

from bci_stream.service.markers import MarkerFollower
from support.common import unique

pytestmark = [pytest.mark.timeout(120)]
BURST = 5000


def test_a_burst_of_5000_markers_is_received_whole() -> None:
    name = unique("burst-markers")
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "Markers", 1, 0.0, pylsl.cf_string, f"{name}-src"))
    follower = MarkerFollower(f"name='{name}'", "auto", raw=True)
    follower.start()
    try:
        deadline = time.monotonic() + 30
        while follower.state != "connected" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert follower.state == "connected", follower.error
        time.sleep(0.5)  # the inlet is open (connected is set after open_stream)
        t0 = pylsl.local_clock()
        outlet.push_chunk([[f"m{i}"] for i in range(BURST)], [t0 + i * 1e-4 for i in range(BURST)])
        values: list[str] = []
        deadline = time.monotonic() + 30
        while len(values) < BURST and time.monotonic() < deadline:
            while follower.queue:
                item = follower.queue.popleft()
                if item[0] == "marker":
                    values.append(item[1])
            time.sleep(0.05)
        assert values == [f"m{i}" for i in range(BURST)], (len(values), values[:2])
    finally:
        follower.stop()
        del outlet
