"""A restarted worker's marker hub takes the markers the supervisor's witness received in its unfollowed window
(``MarkerHub.recover``) as received: scored, recorded with their own timestamps, counted in
``markers.unfollowed.recovered``; a marker its own follower also received (same value and source timestamp, e.g. one
a sender pushed late with an earlier stamp) is taken once, whichever came first. A first generation has no window:
nothing is recovered. Bounds (review 2): only markers of this generation's own window are taken (an answer meant for
an earlier generation, sent just as the worker restarted again, is dropped), and the witness's follower queue is
bounded for a decoder that sends no more statuses. (The recording: tests/integration/test_markers_recovered.py.)

The follower is a real :class:`MarkerFollower`, not started: its queue is filled as its thread would fill it."""

from __future__ import annotations

import numpy as np

from bci_stream.service.marker_witness import MAX_KEPT
from bci_stream.service.markers import MarkerFollower, MarkerHub
from bci_stream.service.scoring import LiveScorer, ScoringConfig

LABELS = ["a", "b"]
SFREQ = 100.0


def restarted_hub() -> MarkerHub:
    scorer = LiveScorer(ScoringConfig({"A": "a", "B": "b"}, 0.5, "test"), LABELS, SFREQ, max_lag_s=60.0)
    hub = MarkerHub(MarkerFollower("name='x-markers'", "auto"), scorer, None, unfollowed_since=10.0)
    hub.follower.queue.extend([("connect", {"name": "x-markers", "type": "Markers", "source_id": "x"}, 0.0, 20.0),
                               ("marker", "B", 15.0, 0.0),  # in the window: pushed late, with its own stamp
                               ("marker", "A", 25.0, 0.0)])
    hub.tick()
    return hub


def test_recovered_markers_are_taken_once_and_counted():
    hub = restarted_hub()
    assert hub.unfollowed == {"from": 10.0, "to": 20.0, "seconds": 10.0}
    taken = hub.recover([("A", 12.0), ("B", 15.0), ("A", 12.0), ("A", 11.0)])
    assert taken == 2  # B: the follower's already; the second A at 12.0: the same marker
    assert hub.unfollowed["recovered"] == 2
    hub.follower.queue.extend([("marker", "A", 11.0, 0.0), ("marker", "B", 26.0, 0.0)])  # A 11.0: recovered first
    hub.tick()
    assert hub.received == 5
    assert [(value, t) for _, value, t, _ in hub.recent] == [("B", 15.0), ("A", 25.0), ("A", 11.0), ("A", 12.0),
                                                              ("B", 26.0)]
    assert hub.scorer.describe()["markers_received"] == 5
    # scored from outputs that cover the recovered cues (anchored at their own time)
    ts = 10.0 + np.arange(2000) / SFREQ
    y = np.tile(np.array([[0.9, 0.1]], dtype=np.float32), (len(ts), 1))
    hub.outputs(ts, y)
    sc = hub.scorer.describe()
    assert (sc["trials"], sc["correct"]) == (5, 3)
    markers, _ = hub.describe()
    assert markers["unfollowed"]["recovered"] == 2


def test_a_first_generation_recovers_nothing():
    hub = MarkerHub(MarkerFollower("name='x-markers'", "auto"), None, None)
    hub.follower.queue.append(("connect", {"name": "x-markers"}, 0.0, 20.0))
    assert hub.recover([("A", 12.0)]) == 0
    assert hub.received == 0 and hub.unfollowed is None


def test_markers_outside_this_generation_s_window_are_not_taken() -> None:
    hub = restarted_hub()  # window 10..20 s
    taken = hub.recover([("A", 3.0), ("B", 8.5), ("A", 12.0), ("B", 20.5), ("A", 40.0)])
    assert taken == 2  # 12.0 inside, 20.5 within the 1 s margin; 3.0, 8.5 (1.5 s early) and 40.0 dropped
    assert [(value, t) for _, value, t, _ in hub.recent][-2:] == [("A", 12.0), ("B", 20.5)]
    assert hub.unfollowed["recovered"] == 2


def test_the_witness_follower_queue_is_bounded() -> None:
    follower = MarkerFollower("name='x-markers'", "auto", max_queued=MAX_KEPT)
    follower.queue.extend(("marker", "A", float(i), 0.0) for i in range(MAX_KEPT + 500))
    assert len(follower.queue) == MAX_KEPT and follower.queue[0][2] == 500.0  # the oldest went first
    assert MarkerHub(MarkerFollower("name='y'", "auto"), None, None).follower.queue.maxlen is None  # a worker's
