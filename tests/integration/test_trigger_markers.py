"""One-channel numeric marker streams over real LSL: 0 is "no event" (as for one-hot streams), and a regular-rate
one (a trigger channel: 0 between codes, each code held for some samples) gives a marker only where its value
changes to a non-zero one, at the sample where the code starts; an irregular one gives every non-zero sample."""

from __future__ import annotations

import numpy as np
import pylsl
import pytest

from bci_stream.service.markers import MarkerFollower
from support.common import unique
from support.lsl import wait_for


def follow(name: str, srate: float, fmt: int, samples: list[float], stamps: np.ndarray,
           until: float) -> list[tuple[str, float]]:
    """Push ``samples`` (one channel) with ``stamps`` once a follower is connected; the markers it found up to
    the one stamped ``until`` (the last expected)."""
    info = pylsl.StreamInfo(name, "Markers", 1, srate, fmt, f"{name}-src")
    outlet = pylsl.StreamOutlet(info)
    follower = MarkerFollower(f"name='{name}'", "none")
    follower.start()

    def markers() -> list[tuple[str, float]]:
        return [(item[1], item[2]) for item in list(follower.queue) if item[0] == "marker"]

    try:
        wait_for(lambda: follower.state == "connected", 30, f"the follower to connect to {name}")
        for v, t in zip(samples, stamps):
            outlet.push_sample([v], float(t))
        wait_for(lambda: any(t >= until for _, t in markers()), 30, "the last marker")
        return markers()
    finally:
        follower.stop()


@pytest.mark.parametrize("fmt", [pylsl.cf_int32, pylsl.cf_float32])
def test_a_regular_trigger_channel_gives_one_marker_per_code_onset(fmt):
    codes = [0] * 10 + [3] * 5 + [0] * 10 + [3] * 5 + [5] * 5 + [0] * 5 + [2] * 3
    t0 = pylsl.local_clock()
    stamps = t0 + np.arange(len(codes)) / 100.0
    got = follow(unique("trig"), 100.0, fmt, codes, stamps, stamps[40])
    assert [v for v, _ in got] == ["3", "3", "5", "2"]
    np.testing.assert_allclose([t for _, t in got], stamps[[10, 25, 30, 40]], atol=1e-9)


def test_an_irregular_numeric_stream_gives_every_non_zero_sample():
    codes = [1, 0, 2, 0, 2, 2]
    t0 = pylsl.local_clock()
    stamps = t0 + np.arange(len(codes)) * 0.1
    got = follow(unique("mkint"), 0.0, pylsl.cf_int32, codes, stamps, stamps[5])
    assert [v for v, _ in got] == ["1", "2", "2", "2"]
    np.testing.assert_allclose([t for _, t in got], stamps[[0, 2, 4, 5]], atol=1e-9)


def test_a_code_already_on_when_the_follower_connects_or_reconnects_is_no_new_cue():
    """A held code seen first at a (re)connection started before the follower saw it: no marker at that sample's
    time (a reconnection used to report the held code again, a duplicate cue seconds after its onset)."""
    name = unique("trigheld")
    info = pylsl.StreamInfo(name, "Markers", 1, 100.0, pylsl.cf_int32, f"{name}-src")
    outlet = pylsl.StreamOutlet(info)
    follower = MarkerFollower(f"name='{name}'", "none")
    follower.start()

    def markers() -> list[tuple[str, float]]:
        return [(item[1], item[2]) for item in list(follower.queue) if item[0] == "marker"]

    def push(codes: list[int]) -> np.ndarray:
        stamps = pylsl.local_clock() + np.arange(len(codes)) / 100.0
        for v, t in zip(codes, stamps):
            outlet.push_sample([v], float(t))
        return stamps

    try:
        wait_for(lambda: follower.state == "connected", 30, f"the follower to connect to {name}")
        first = push([4] * 5 + [0] * 5 + [3] * 5)  # 4 was on before the first sample: not an onset seen
        wait_for(lambda: len(markers()) >= 1, 30, "the onset of 3")
        del outlet  # the source goes while 3 is held, and comes back (same source_id) still holding it
        wait_for(lambda: follower.state == "lost", 30, "the follower to see the stream go")
        outlet = pylsl.StreamOutlet(info)
        wait_for(lambda: follower.state == "connected", 30, "the follower to reconnect")
        again = push([3] * 5 + [0] * 5 + [2] * 3)
        wait_for(lambda: len(markers()) >= 2, 30, "the onset of 2")
        got = markers()
        assert [v for v, _ in got] == ["3", "2"]
        np.testing.assert_allclose([t for _, t in got], [first[10], again[10]], atol=1e-9)
    finally:
        follower.stop()


@pytest.mark.parametrize("fmt", [pylsl.cf_int32, pylsl.cf_double64])
def test_a_trigger_channel_pushed_a_sample_per_cue_gives_every_cue(fmt):
    """Audit s68ingest F1: a stimulus program's one-channel outlet declaring 160 Hz, one sample per cue: its first cue
    and every repeat were lost (2, 1, 1, 3 gave 1, 3), live and in recordings. The first comes once no sample
    followed it within FIRST_WAIT_S, each with its own stamp."""
    codes = [2, 1, 1, 3]
    t0 = pylsl.local_clock()
    stamps = t0 + 0.6 * np.arange(len(codes))  # pushed at once, stamped as a program 0.6 s apart would
    got = follow(unique("trigcue"), 160.0, fmt, codes, stamps, stamps[-1])
    assert [v for v, _ in got] == ["2", "1", "1", "3"]
    np.testing.assert_allclose([t for _, t in got], stamps, atol=1e-9)
    lone = follow(unique("trigone"), 160.0, fmt, [7], np.array([pylsl.local_clock()]), -np.inf)
    assert [v for v, _ in lone] == ["7"]  # one cue, no sample after it: given after FIRST_WAIT_S
