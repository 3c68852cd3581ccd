"""The supervisor's marker witness answers a restarted worker's unfollowed window once, with the markers it received
in that window, compared on the marker stream's own timestamps (the worker's ``from``/``to`` are on its own clock:
``markers.clock_offset`` brings them back; a Ray worker on another host has another clock than the API process);
markers the crashed generation reported in its last status are not sent again; a stopped decoder's stream is no longer
followed.

The witness's follower is a real :class:`MarkerFollower` (looking for a stream that does not exist); its queue is
filled as its thread would fill it."""

from __future__ import annotations

import types

import pylsl

from bci_stream.core.messages import RecoverMarkers
from bci_stream.core.status import WorkerStatus
from bci_stream.service.marker_witness import MarkerWitness, stream_predicate

STREAM = {"name": "nowhere-cues-s19w", "type": "Markers", "source_id": "nowhere-cues-s19w-src", "hostname": "h",
          "uid": "u-1"}


def handle(markers: dict, generation: int, ended: WorkerStatus | None = None):
    spec = types.SimpleNamespace(options=types.SimpleNamespace(time_correction="auto"))
    return types.SimpleNamespace(id="d1", generation=generation, stopping=False, spec=spec,
                                 status=WorkerStatus(markers=markers), ended_status=ended, exit_code=None,
                                 restart_at=None)


def test_the_window_is_answered_once_on_the_streams_own_clock():
    sent = []
    witness = MarkerWitness(lambda decoder_id, command: sent.append((decoder_id, command)) or True)
    try:
        witness.saw(handle({"stream": STREAM, "unfollowed": None}, 1))
        assert sent == [] and witness.following("d1") is not None
        now = pylsl.local_clock()  # witnessed: source timestamps (offset 0 here); the worker's clock is 100 s ahead
        witness._followed[stream_predicate(STREAM)].follower.queue.extend(
            [("marker", v, now + dt, 0.0) for v, dt in [("early", -9.0), ("seen", -4.0), ("a", -3.0), ("b", -1.0),
                                                        ("late", 2.0)]])
        ended = WorkerStatus(markers={"clock_offset": 100.0, "recent": [[0, "seen", now - 4.0 + 100.0, None]]})
        window = {"from": now - 5.0 + 100.0, "to": now + 100.0, "seconds": 5.0}
        restarted = handle({"stream": STREAM, "unfollowed": window, "clock_offset": 100.0}, 2, ended)
        witness.saw(restarted)
        witness.saw(restarted)  # the next snapshot, before the worker's answer: not sent again
        assert sent == [("d1", RecoverMarkers(markers=(("a", now - 3.0), ("b", now - 1.0))))]
        restarted.status = WorkerStatus(markers={"stream": STREAM, "unfollowed": {**window, "recovered": 2}})
        witness.saw(restarted)
        assert len(sent) == 1
    finally:
        witness.forget("d1")
    assert witness.following("d1") is None and not witness._followed


def test_a_decoder_stopping_is_not_followed_again():
    witness = MarkerWitness(lambda decoder_id, command: True)
    h = handle({"stream": STREAM}, 1)
    h.stopping = True
    witness.saw(h)
    assert witness.following("d1") is None

