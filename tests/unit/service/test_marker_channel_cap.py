"""A marker stream of more channels than any marker stream has is not followed: its follower ends in ``error`` saying
so, before an inlet opens, and queues no marker. Before (review s48 F3), a 50,000-channel marker stream beside a
recording was followed: 5 samples gave 250,000 markers and 4.8 MB. A real LSL outlet on loopback, a real follower."""

from __future__ import annotations

import numpy as np
import pylsl

from bci_stream.service.marker_choice import MAX_MARKER_CHANNELS
from bci_stream.service.markers import MarkerFollower
from support.common import unique
from support.lsl import wait_for


def test_a_marker_stream_wider_than_any_is_refused_before_its_inlet_opens() -> None:
    name = unique("wide-markers")
    n = MAX_MARKER_CHANNELS + 1
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "Markers", n, pylsl.IRREGULAR_RATE, "float32", f"{name}-src"))
    follower = MarkerFollower(f"name='{name}'", "auto")
    follower.start()
    try:
        wait_for(lambda: follower.state == "error", 30, "the follower to refuse the stream")
        for _ in range(5):
            outlet.push_sample(np.ones(n, dtype=np.float32))
        assert follower.error == (f"marker stream failed: ValueError: stream {name!r} has {n} channels, more than the "
                                  f"{MAX_MARKER_CHANNELS} a marker stream may have (a code, or a few, per sample): not "
                                  "followed, nothing of it recorded"), follower.error
        assert follower._inlet is None and not [i for i in follower.queue if i[0] in ("connect", "marker")]
        # record's closing warning says so, not "is the stimulus program's marker stream ...? name it" (audit
        # s62interop F3: it was found, and naming it again changes nothing)
        from types import SimpleNamespace

        from bci_stream.service.record_summary import no_markers_reason

        rec = SimpleNamespace(hub=SimpleNamespace(follower=follower), names={"marker_stream": "--marker-stream"},
                              marker_stream=None, name=name, own_input=None)
        assert no_markers_reason(rec, None) == f"the marker stream was not followed: {follower.error}"
    finally:
        follower.stop()
    del outlet
