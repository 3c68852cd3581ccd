"""The marker witness's pass (:meth:`MarkerWitness.tick`, once per supervisor monitor pass): it takes what its
followers pulled even when no status comes, and forgets a decoder in a final state
(:func:`~bci_stream.service.restart_policy.final`: ``error`` with no restart coming, or its worker ended cleanly), but
not one whose restart waits its backoff or is starting; a stream two decoders follow stays followed while one of them
may still report. A decoder that reports its stream again is followed again.

The followers are real :class:`MarkerFollower` threads looking for a stream that does not exist; their queues are
filled as their threads would fill them."""

from __future__ import annotations

import types

import pylsl

from bci_stream.core.status import WorkerStatus
from bci_stream.service.marker_witness import MarkerWitness, stream_predicate
from bci_stream.service.restart_policy import final

STREAM = {"name": "nowhere-cues-s20w", "type": "Markers", "source_id": "nowhere-cues-s20w-src", "hostname": "h",
          "uid": "u-1"}


def handle(decoder_id: str, state: str = "running", exit_code: int | None = None, restart_at: float | None = None):
    spec = types.SimpleNamespace(options=types.SimpleNamespace(time_correction="auto"))
    return types.SimpleNamespace(id=decoder_id, generation=1, stopping=False, spec=spec, ended_status=None,
                                 status=WorkerStatus(state=state, markers={"stream": STREAM}), exit_code=exit_code,
                                 restart_at=restart_at)


def test_followers_are_drained_without_statuses():
    witness = MarkerWitness(lambda decoder_id, command: True)
    h = handle("d1")
    try:
        witness.saw(h)
        followed = witness._followed[stream_predicate(STREAM)]
        now = pylsl.local_clock()
        followed.follower.queue.extend([("marker", v, now - dt, 0.0) for v, dt in [("a", 2.0), ("b", 1.0)]])
        witness.tick([h])  # no status: the markers are taken all the same
        assert not followed.follower.queue and [m[1] for m in followed.markers] == ["a", "b"]
        assert witness.following("d1") is not None
    finally:
        witness.forget("d1")


def test_a_decoder_in_a_final_state_is_forgotten_one_that_will_restart_is_not():
    witness = MarkerWitness(lambda decoder_id, command: True)
    cases = {
        "error": handle("error", "error", exit_code=-9),  # restarts used up (or refused): final
        "clean": handle("clean", "stopped", exit_code=0),  # its worker ended on its own, cleanly: final
        "waits": handle("waits", "starting", exit_code=-9, restart_at=1e12),  # its restart waits its backoff
        "ray": handle("ray", "starting", exit_code=-9),  # a slow start under way (restart_at taken)
        "running": handle("running"),
    }
    assert [k for k, h in cases.items() if final(h)] == ["error", "clean"]
    try:
        for h in cases.values():  # each reported its stream while it ran
            witness.saw(handle(h.id))
        assert all(witness.following(k) is not None for k in cases)
        witness.tick(cases.values())
        witness.saw(cases["error"])  # its last snapshot seen again (a pipe's EOF read after its exit was judged)
        assert witness.following("error") is None
        assert [k for k in cases if witness.following(k) is None] == ["error", "clean"]
        assert set(witness._followed[stream_predicate(STREAM)].decoders) == {"waits", "ray", "running"}
        for k in ("waits", "ray", "running"):
            witness.forget(k)
        assert witness._followed == {}  # the last decoder gone: the follower stopped

        again = handle("error")  # a decoder that reports its stream connected again is followed again
        witness.saw(again)
        assert witness.following("error") is not None
    finally:
        for k in cases:
            witness.forget(k)
    assert witness._followed == {} and witness._of == {}
