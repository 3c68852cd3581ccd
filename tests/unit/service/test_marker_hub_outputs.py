"""The worker's marker hub gives the live scorer every decoded chunk from the first output on, before the marker
follower has connected too: the follower opens its inlet, reads the clock offset and is drained by the worker's
next tick a moment after the data started, and a cue's marker (held by ``replay --wait-for-consumer`` until then,
or simply pushed late) carries its own, earlier timestamp. Before the fix the hub dropped those outputs, and such a
cue was anchored at the first output after the connection: decided late, at another sample than the offline rule
(``evaluate --live``: 6.6 s of recording late at ``--speed 16``).

The follower is a real :class:`MarkerFollower`, not started: its queue is filled as its thread would fill it."""

from __future__ import annotations

import numpy as np

from bci_stream.service.markers import MarkerFollower, MarkerHub
from bci_stream.service.scoring import LiveScorer, ScoringConfig

LABELS = ["rest", "left", "right"]
SFREQ = 100.0
DECISION_S = 1.0


def test_outputs_decoded_before_the_marker_stream_connected_decide_its_first_cues():
    n = 400
    ts = 500.0 + np.arange(n) / SFREQ
    classes = np.zeros(n, dtype=int)
    classes[100:] = 2  # the right class from the decision sample of the first cue on
    classes[5:100] = 1  # left from the first cue to just before its decision sample...
    classes[105:200] = 1  # ...and from the second cue's decision sample to its end
    y = np.full((n, len(LABELS)), 0.1, dtype=np.float32)
    y[np.arange(n), classes] = 0.8
    scorer = LiveScorer(ScoringConfig({"L": "left", "R": "right"}, DECISION_S, "test"), LABELS, SFREQ)
    hub = MarkerHub(MarkerFollower("name='x-markers'", "auto"), scorer, None)
    for lo in range(0, 300, 10):  # 3 s of outputs before the marker stream is connected
        hub.outputs(ts[lo:lo + 10], y[lo:lo + 10])
    # the follower connects; the replay releases the cues it held, each with its sample's own timestamp
    hub.follower.queue.extend([("connect", {"name": "x-markers"}, 0.0, ts[299]), ("marker", "R", ts[0], 0.0),
                               ("marker", "L", ts[5], 0.0)])
    hub.tick()
    for lo in range(300, n, 10):
        hub.outputs(ts[lo:lo + 10], y[lo:lo + 10])
    hub.tick()
    sc = scorer.describe()
    assert (sc["trials"], sc["correct"], sc["missed"], sc["pending"]) == (2, 2, 0, 0), sc
    assert [(t["value"], t["cue_t"], t["decision_t"], t["predicted"]) for t in sc["last"]] == [
        ("R", ts[0], ts[100], "right"), ("L", ts[5], ts[105], "left")]
