"""A 0 on an irregular one-channel numeric marker stream is the marker ``"0"`` exactly when the decoder's scoring map
names ``"0"`` (a class coded 0: ``--labels 0=rest,1=left``); otherwise it stays "no event" (a sender's "trigger off").
A trigger channel (0 between codes) and mne-lsl's one-hot annotations (0: not this description) keep their rules.
A restarted worker's hub drops a witnessed ``"0"`` its own follower would not give (the supervisor's witness follows a
stream for every decoder on it, whatever their maps).

The followers are real :class:`MarkerFollower` threads, not started (their queues are filled as their threads would
fill them) or looking for a stream that does not exist (:meth:`MarkerHub.start`, as the worker builds it)."""

from __future__ import annotations

import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import MarkerOptions
from bci_stream.service.markers import MarkerFollower, MarkerHub, TriggerEdges, marker_values, zero_is_event
from bci_stream.service.scoring import LiveScorer, ScoringConfig
from support.common import REPO

NOWHERE = {"name": "bci-no-such-markers-s22zero"}


def test_zero_is_the_marker_0_only_when_asked_other_rules_unchanged() -> None:
    for sample, default, zero in (([0], [], ["0"]), ([0.0], [], ["0"]), ([-0.0], [], ["0"]), ([1], ["1"], ["1"]),
                                  ([2.5], ["2.5"], ["2.5"]), ([float("nan")], [], []), ([float("inf")], [], [])):
        assert (marker_values(sample, False, None), marker_values(sample, False, None, zero=True)) == (default, zero)
    labels = ["T0", "T1", "T2"]  # one-hot annotations: 0 is "not this description", map or not
    assert marker_values([0.0, 0.0, 0.0], False, labels, zero=True) == []
    assert marker_values([0.0, 4.1, 0.0], False, labels, zero=True) == ["T1"]
    assert marker_values(["0"], True, None) == ["0"]  # a string "0" is a marker as any string
    edges = TriggerEdges()  # a trigger channel: 0 is the level between codes
    assert [v for s in ([0], [3], [0], [0], [5], [0]) for v in edges.values(s)] == ["3", "5"]


def test_zero_is_an_event_when_the_map_names_0() -> None:
    assert zero_is_event({"0": "rest", "1": "left"}) and zero_is_event({"0": None, "1": "left"})
    assert not zero_is_event({"1": "left", "2": "right"}) and not zero_is_event({}) and not zero_is_event(None)
    assert not zero_is_event({"0.0": "rest"})  # a numeric 0 is the marker "0", never "0.0"


@pytest.mark.parametrize("marker_map, zero", [({"0": "fists", "1": "feet"}, True),
                                              ({"0": None, "1": "fists", "2": "feet"}, True),
                                              ({"1": "fists", "2": "feet"}, False), (None, False)])
def test_the_worker_s_follower_takes_0_as_its_scoring_map_says(marker_map, zero) -> None:
    card = ModelRegistry(REPO / "models").get("eegmmidb-s001").card  # its scoring.marker_map (None): T1/T2
    hub = MarkerHub.start(MarkerOptions(stream=NOWHERE, marker_map=marker_map), card, "bci-no-such-stream",
                          "nohost", 160.0, "auto")
    try:
        assert hub.follower.zero is zero and hub.describe()[0]["zero_is_event"] is zero
        assert hub.scorer.config.source == ("options" if marker_map else "card.scoring")
    finally:
        hub.close()


def _restarted(stream: dict, zero: bool) -> MarkerHub:
    scorer = LiveScorer(ScoringConfig({"0": "a", "1": "b"} if zero else {"1": "b"}, 0.5, "test"), ["a", "b"], 100.0)
    hub = MarkerHub(MarkerFollower("name='x-markers'", "auto", zero=zero), scorer, None, unfollowed_since=10.0)
    hub.follower.queue.append(("connect", {"name": "x-markers", **stream}, 0.0, 20.0))
    return hub


@pytest.mark.parametrize("stream, zero, taken", [
    ({"channel_format": "numeric", "n_chans": 1}, False, ["1"]),  # a "trigger off" 0: not a marker here
    ({"channel_format": "numeric", "n_chans": 1}, True, ["0", "1"]),  # a class coded 0
    ({"channel_format": "string", "n_chans": 1}, False, ["0", "1"]),  # a string "0" is always a marker
    ({"channel_format": "numeric", "n_chans": 3}, False, ["0", "1"]),  # unlabelled one-hot: channel 0's name
])
def test_a_witnessed_0_is_recovered_as_the_own_follower_would_give_it(stream, zero, taken) -> None:
    hub = _restarted(stream, zero)
    assert hub.recover([("0", 12.0), ("1", 13.0)]) == len(taken)
    assert [m[1] for m in hub.recent] == taken and hub.unfollowed["recovered"] == len(taken)
    assert hub.scorer.describe()["markers_unmapped"] == (not zero) * (len(taken) - 1)
