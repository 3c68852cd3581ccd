"""A GET right after a 200 reset, state restore or swap shows that command in its counters and totals (found by an
exploratory run: the answer was built from the worker's fresh counters, the next GET from its last periodic
snapshot: ``resets 1`` in the answer, ``0`` in the GET, 20 of 20 times; totals went backwards; a reset answered just
before a ``kill -9`` was never in ``totals``). The supervisor now takes an answer's counters as the decoder's latest,
and a snapshot of the same worker never takes a counter back. A real server, worker processes and LSL stream."""

from __future__ import annotations

from faults.kit import LivePusher, start_running, status
from support.common import unique
from support.http import wait_status
from support.lsl import new_outlet


def test_counters_in_a_get_right_after_an_answer_are_never_older_than_the_answer(client, worker_kind):
    name = unique("answered")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, worker=worker_kind)
    pusher = LivePusher(outlet, seed=161)
    pusher.start()
    try:
        wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 100, 60, "decoding")
        seen = {"resets": 0, "samples_in": 0}
        for i in range(1, 6):
            r = client.post(f"/decoders/{decoder_id}/reset")
            assert r.status_code == 200, r.text
            answer = r.json()
            assert answer["counters"]["resets"] == i and answer["totals"]["resets"] == i
            st = status(client, decoder_id)  # at once: before, the last snapshot (resets i - 1)
            for key in ("counters", "totals"):
                assert st[key]["resets"] == i, (key, st[key]["resets"], i)
                assert st[key]["samples_in"] >= answer[key]["samples_in"], key
            assert st["totals"]["samples_in"] >= seen["samples_in"]
            seen["samples_in"] = st["totals"]["samples_in"]
        state = client.get(f"/decoders/{decoder_id}/state").json()
        r = client.put(f"/decoders/{decoder_id}/state", json=state)
        assert r.status_code == 200, r.text
        epoch = r.json()["state_epoch"]
        assert status(client, decoder_id)["counters"]["state_epoch"] >= epoch  # before: the epoch before it
    finally:
        pusher.halt.set()
        pusher.join()
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
