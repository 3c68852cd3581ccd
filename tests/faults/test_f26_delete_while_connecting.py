"""Fault 26: a DELETE of a decoder still looking for its stream (audit s65api F1). liblsl's one-shot resolve of an
absent stream (``resolve_bypred(..., 0.5)``) took 5.5 s every other call on a test machine, and a starting decoder
took its Stop and reported its status only between resolves: a shared worker whose only decoder was starting was
silent for the 5 s its DELETE waits, and was killed as hung (``exit_code`` -9, "did not let decoder ... leave within
5.0 s (hung): killed (SIGKILL)", an ERROR line); a DELETE took 3-5 s. Now a starting decoder reads a continuous
resolver every 0.1 s: it leaves at once, exit 0, its worker unharmed."""

from __future__ import annotations

from faults.kit import assert_service_up
from support.common import unique
from support.http import wait_status

ROUNDS = 3  # the old one-shot resolve blocked on about every other call: three DELETEs all but always met it


def test_a_decoder_deleted_while_it_looks_for_its_stream_leaves_with_exit_0(client, worker_kind):
    for _ in range(ROUNDS):
        name = unique("nowhere")  # no such stream: the decoder stays connecting (no resolve_timeout)
        r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                           "options": {"worker": worker_kind}})
        assert r.status_code == 201, r.text
        decoder_id = r.json()["id"]
        wait_status(client, decoder_id, lambda s: s["state"] == "connecting", 60, "looking for its stream")
        # at once: the old code's first resolve of a new liblsl session blocked for 5.5 s here, longer than a DELETE
        # waits for its Stop to be taken
        r = client.delete(f"/decoders/{decoder_id}")
        assert r.status_code == 200, r.text
        end = r.json()
        assert end["exit_code"] == 0 and "hung" not in (end.get("last_error") or ""), end
        assert end["state"] == "stopped", end
        assert client.get(f"/decoders/{decoder_id}").status_code == 404
    assert_service_up(client)
