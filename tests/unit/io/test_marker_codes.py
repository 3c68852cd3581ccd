"""The marker rules a file's marker stream is read by are the live follower's: :mod:`bci_stream.io.marker_codes`."""

from __future__ import annotations

import numpy as np

from bci_stream.io.marker_codes import marker_values, stream_markers, trigger_onsets, zero_is_event
from bci_stream.service import markers as live


def test_the_service_reads_markers_by_the_same_functions() -> None:
    assert live.marker_values is marker_values and live.zero_is_event is zero_is_event


def test_a_whole_trigger_channel_gives_what_the_live_follower_gives_sample_by_sample() -> None:
    rng = np.random.default_rng(7)
    level = np.repeat(rng.choice([0, 0, 0, 1, 2, 5], size=300), rng.integers(1, 6, size=300)).astype(float)
    level[rng.integers(0, len(level), size=20)] = np.nan  # skipped: the value before it holds
    edges = live.TriggerEdges()
    want = [(k, v) for k, x in enumerate(level) for v in edges.values([x])]
    at = trigger_onsets(level)
    assert [(int(k), str(int(level[k]))) for k in at] == want and len(want) > 50
    assert trigger_onsets(np.array([3.0, 3.0, 0.0, 3.0, 5.0])).tolist() == [3, 4]  # the first sample sets the level


def test_stream_markers_of_each_layout() -> None:
    ts = np.array([1.0, 1.05, 2.0, 2.05])
    got = stream_markers(np.array([[1], [0], [2], [0]], dtype=np.int32), ts, is_string=False, srate=0.0, labels=None)
    assert got[0].tolist() == [1.0, 2.0] and got[1] == ["1", "2"]
    got = stream_markers(np.array([[1], [0], [2], [0]]), ts, is_string=False, srate=0.0, labels=None, zero=True)
    assert got[1] == ["1", "0", "2", "0"]
    got = stream_markers(np.array([[1.0], [2.5]], dtype=np.float32), ts[:2], is_string=False, srate=0.0, labels=None)
    assert got[1] == ["1", "2.5"]
    rows = np.array([[0, 4.1, 0], [-1.0, 0, 0], [0, 2.0, 3.0]], dtype=np.float32)  # PlayerLSL annotations
    got = stream_markers(rows, ts[:3], is_string=False, srate=0.0, labels=["T0", "T1", "T2"])
    assert got[0].tolist() == [1.0, 1.05, 2.0, 2.0] and got[1] == ["T1", "T0", "T1", "T2"]
    # without a label per channel, each non-zero channel's number (before: its index, a code per channel lost)
    got = stream_markers(rows, ts[:3], is_string=False, srate=0.0, labels=None)
    assert got[1] == [repr(float(np.float32(4.1))), "-1", "2", "3"] and got[0].tolist() == [1.0, 1.05, 2.0, 2.0]
    got = stream_markers([["cue", "x"], ["0"]], ts[:2], is_string=True, srate=0.0, labels=None)
    assert got[1] == ["cue", "0"]  # a string "0" is a marker as any string
