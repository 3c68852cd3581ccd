"""The marker rules a file's marker stream is read by are the live follower's: :mod:`bci_stream.io.marker_codes`."""

from __future__ import annotations

import numpy as np

from bci_stream.io.marker_codes import ADJACENT_S, FIRST_WAIT_S, marker_values, stream_markers, zero_is_event
from bci_stream.service import markers as live


def test_the_service_reads_markers_by_the_same_functions() -> None:
    assert live.marker_values is marker_values and live.zero_is_event is zero_is_event


def test_a_whole_trigger_channel_gives_what_the_live_follower_gives_sample_by_sample() -> None:
    rng = np.random.default_rng(7)
    level = np.repeat(rng.choice([0, 0, 0, 1, 2, 5], size=300), rng.integers(1, 6, size=300)).astype(float)
    level[rng.integers(0, len(level), size=20)] = np.nan  # skipped: the value before it holds
    stamps = np.arange(len(level)) / 100.0
    edges = live.TriggerEdges(None, 100.0)
    want = [(t, v) for x, t in zip(level, stamps) for v, t in edges.events([x], t)]
    times, texts = stream_markers(level[:, None], stamps, is_string=False, srate=100.0, labels=None)
    assert list(zip(times.tolist(), texts)) == want and len(want) > 50
    ones = np.array([3.0, 3.0, 0.0, 3.0, 5.0])  # sent at its rate: the first sample sets the level
    assert stream_markers(ones[:, None], np.arange(5) / 100.0, is_string=False, srate=100.0, labels=None)[1] == \
        ["3", "5"]


def test_a_one_channel_stream_with_a_rate_pushed_a_sample_per_cue_gives_every_cue() -> None:
    """Audit s68ingest F1: a stimulus program's one-channel int32 outlet declaring 160 Hz, one sample per cue 2.5 s
    apart, lost its first cue (2, 1, 3 gave 1, 3) and every repeat (1, 1, 2 gave 2; a recording of 1,1,2,2,1,2 held
    2,1,2): one channel kept the level rule. Each sample not adjacent to the one before is read from 0, and the first
    is a cue when the next is not adjacent to it (or, live, none comes within FIRST_WAIT_S)."""
    codes = np.array([[1.0], [1.0], [2.0], [2.0], [1.0], [2.0]])
    stamps = 100.0 + 2.5 * np.arange(6)
    times, texts = stream_markers(codes, stamps, is_string=False, srate=160.0, labels=None)
    assert texts == ["1", "1", "2", "2", "1", "2"] and times.tolist() == stamps.tolist()
    edges = live.TriggerEdges(None, 160.0)
    assert edges.events([2.0], 100.0, now=5.0) == [] and edges.flush(5.1) == []  # waits for the next, a while
    assert edges.flush(5.0 + FIRST_WAIT_S) == [("2", 100.0)]  # none came: a cue, with its own stamp
    assert edges.events([1.0], 102.5, now=7.5) == [("1", 102.5)] and edges.events([3.0], 105.0) == [("3", 105.0)]
    one = live.TriggerEdges(None, 160.0)  # one cue, then the next sample long after: both, each at its stamp
    assert one.events([4.0], 1.0) == [] and one.events([4.0], 3.0) == [("4", 1.0), ("4", 3.0)]
    assert stream_markers([[7.0]], [1.0], is_string=False, srate=160.0, labels=None)[1] == ["7"]  # a lone sample
    labelled = live.TriggerEdges(["STI"], 160.0)  # a trigger channel's label is no code: its value is
    assert labelled.events([3.0], 1.0) == [] and labelled.events([0.0], 1.0 + 1 / 160) == []
    assert labelled.events([5.0], 2.0) == [("5", 2.0)]


def test_a_held_code_jittered_or_stamped_a_chunk_at_a_time_is_one_cue() -> None:
    """Audit s70score F1: a trigger channel at 500 Hz stamped as a Python loop pushed it (gaps of 1-3 periods), or at
    250 Hz with one stamp per 20 ms chunk, broke adjacency (1.5 periods) inside a held code: each gap read the code
    again from 0, a new trial (5 cues gave 9; 3 gave 30). Within ADJACENT_S the level continues, live and in a file;
    cues seconds apart pushed a sample each are still one cue each."""
    rng = np.random.default_rng(3)
    level = np.zeros(2000)
    for k, code in enumerate([1, 2, 1, 2, 1]):
        level[200 + 350 * k:250 + 350 * k] = code  # each held 0.1 s at 500 Hz
    jittered = 10.0 + np.cumsum(rng.uniform(0.5, 3.0, len(level)) / 500.0)
    chunked = 10.0 + (np.arange(len(level)) // 5 + 1) * 5 / 250.0  # a chunk of 5 samples, stamped once at its end
    for stamps, srate in ((jittered, 500.0), (chunked, 250.0)):
        times, texts = stream_markers(level[:, None], stamps, is_string=False, srate=srate, labels=None)
        assert texts == ["1", "2", "1", "2", "1"], (srate, texts)
        edges = live.TriggerEdges(None, srate)
        assert [v for x, t in zip(level, stamps) for v, _ in edges.events([x], t)] == texts
    assert ADJACENT_S < 1.0  # the per-cue senders above push their cues seconds apart


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
