"""marker_values' raw mode (``bci-stream record``): every marker as received, the decoders' rule unchanged."""

from __future__ import annotations

from bci_stream.service.markers import MarkerFollower, TriggerEdges, marker_values


def test_raw_keeps_code_0_nan_and_every_string_channel_the_decoders_rule_unchanged():
    for sample, live, raw in (([0], [], ["0"]), ([0.0], [], ["0"]), ([-0.0], [], ["0"]), ([3], ["3"], ["3"]),
                              ([2.5], ["2.5"], ["2.5"]), ([float("nan")], [], ["nan"])):
        assert (marker_values(sample, False, None), marker_values(sample, False, None, raw=True)) == (live, raw)
    assert marker_values(["cue", "left"], True, None) == ["cue"]  # the decoders score the first channel
    assert marker_values(["cue", "left"], True, None, raw=True) == ["cue", "left"]
    assert marker_values(["cue", ""], True, None, raw=True) == ["cue"]
    assert marker_values([""], True, None, raw=True) == [""]  # the first channel as received, even empty


def test_raw_keeps_one_hot_annotations_and_trigger_edges_as_they_are():
    labels = ["T0", "T1", "T2"]  # mne-lsl PlayerLSL: one channel per description, 0 = not this one
    assert marker_values([0.0, 4.1, 0.0], False, labels, raw=True) == ["T1"]
    assert marker_values([-1.0, 0.0, 0.0], False, labels, raw=True) == ["T0"]
    edges = TriggerEdges()  # a trigger channel: 0 between codes, in raw mode too (the follower uses it alike)
    assert [v for s in ([0], [3], [3], [0], [5]) for v in edges.values(s)] == ["3", "5"]
    assert not MarkerFollower("name='x'", "auto").raw and MarkerFollower("name='x'", "auto", raw=True).raw
