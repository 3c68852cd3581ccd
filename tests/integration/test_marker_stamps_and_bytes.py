"""A marker stream's odd senders over real LSL and in the worker's hub (audit s70score F2-F4): a string marker that is
not UTF-8 (a Windows program's cp1252) made pylsl's decode fail, the follower dropped its inlet for 5 s and the cues
pushed meanwhile were lost uncounted; a NaN stamp crashed the scorer (the decoder's worker restarted, then ``error``);
Unix-time stamps left every cue pending without a word."""

from __future__ import annotations

import math

import numpy as np
import pylsl

from bci_stream.service.markers import MarkerFollower, MarkerHub
from bci_stream.service.scoring import LiveScorer, ScoringConfig
from support.common import unique
from support.lsl import wait_for


def test_a_marker_that_is_not_utf8_is_read_as_latin1_and_the_markers_after_it_are_kept():
    name = unique("mkbytes")
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "Markers", 1, 0.0, pylsl.cf_string, f"{name}-src"))
    follower = MarkerFollower(f"name='{name}'", "none")
    follower.start()
    try:
        wait_for(lambda: follower.state == "connected", 30, f"the follower to connect to {name}")
        for value in ("T1", b"Bl\xf6ck 2", "T2", "Blöck 3", "T1"):
            outlet.push_sample([value])
        wait_for(lambda: sum(item[0] == "marker" for item in list(follower.queue)) >= 5, 30, "the five markers")
        assert [item[1] for item in follower.queue if item[0] == "marker"] == ["T1", "Blöck 2", "T2", "Blöck 3", "T1"]
        assert (follower.state, follower.error) == ("connected", None)
        assert [item[0] for item in follower.queue].count("lost") == 0
    finally:
        follower.stop()


def test_a_marker_stamped_nan_is_counted_and_one_on_another_clock_is_warned_about():
    labels, sfreq = ["rest", "left", "right"], 100.0
    now = pylsl.local_clock()
    ts = now + np.arange(300) / sfreq
    y = np.tile(np.array([[0.1, 0.8, 0.1]], dtype=np.float32), (300, 1))  # always left
    scorer = LiveScorer(ScoringConfig({"L": "left", "R": "right"}, 1.0, "test"), labels, sfreq)
    hub = MarkerHub(MarkerFollower("name='x-markers'", "none"), scorer, None)
    hub.follower.queue.extend([("connect", {"name": "x-markers"}, 0.0, now), ("marker", "L", math.nan, 0.0),
                               ("marker", "R", now + 1.7e9, 0.0), ("marker", "L", float(ts[10]), 0.0),
                               ("marker", "R", math.inf, 0.0)])
    hub.tick()  # before: ValueError (cannot convert float NaN to integer) out of the scorer, the worker's crash
    for lo in range(0, 300, 10):
        hub.outputs(ts[lo:lo + 10], y[lo:lo + 10])
    hub.tick()
    markers, scoring = hub.describe()
    assert (markers["received"], markers["unstamped"], markers["far_stamped"]) == (4, 2, 1)
    warning = markers["clock_warning"]
    assert warning.startswith("marker 'R' is stamped 1.7e+09 s ahead of this host's LSL clock (more than 3600 s): "
                              "the stimulus program does not stamp with LSL's local_clock()"), warning
    assert (scoring["trials"], scoring["correct"], scoring["pending"]) == (1, 1, 1), scoring  # L scored; R waits
