"""Fault 14: answers a client can act on: a WebSocket to no decoder or to a failed one says why, and a malformed
state snapshot is a 422 (fix the body), not a 409 (retry)."""

from __future__ import annotations

import json

import pylsl
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from bci_stream.lsl.info import make_stream_info
from faults.kit import LivePusher, post_decoder, start_running, ws_url
from support.common import TINY_CH_NAMES, unique
from support.http import wait_status
from support.lsl import new_outlet


def closed_with(url: str) -> tuple[int, str]:
    """Connect, read until the server closes; its close code and reason (the handshake must succeed)."""
    with ws_connect(url) as ws:
        with pytest.raises(ConnectionClosed) as info:
            while True:
                ws.recv(timeout=30)
    rcvd = info.value.rcvd
    assert rcvd is not None, "closed without a close frame"
    return rcvd.code, rcvd.reason


def test_websocket_to_an_unknown_decoder_is_closed_4404_with_the_reason(server):
    """The handshake succeeds (not a bare HTTP 403 as for a bad token), then a close 4404 naming the id."""
    code, why = closed_with(ws_url(server.url, "nope"))
    assert (code, why) == (4404, "decoder 'nope' not found")


def test_websocket_to_a_failed_decoder_is_closed_1011_with_its_error(client, server):
    """A decoder whose stream has the wrong rate (1000 Hz for a 500 Hz model) is refused: a client connected
    while it started and one connecting afterwards are both closed with 1011 and its error, not left waiting."""
    name = unique("wsfail")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, 1000.0, f"{name}-src"))
    decoder_id = post_decoder(client, name)
    early = ws_connect(ws_url(server.url, decoder_id)).__enter__()
    try:
        st = wait_status(client, decoder_id, lambda s: s["exit_code"] is not None, 60, "the refused start")
        assert st["state"] == "error" and "sfreq=1000 Hz" in st["last_error"], st
        with pytest.raises(ConnectionClosed) as info:
            while True:
                early.recv(timeout=30)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1011, info.value
        assert info.value.rcvd.reason.startswith(f"decoder {decoder_id} failed: stream '{name}' has sfreq=1000 Hz")
        code, why = closed_with(ws_url(server.url, decoder_id))
        assert code == 1011 and "sfreq=1000 Hz" in why, (code, why)
    finally:
        early.close()
        del outlet
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_malformed_state_snapshot_is_422(client):
    """PUT /decoders/{id}/state with a wrong shape, an unknown array, another model's sha256 or none: 422 naming what
    is wrong (README: a malformed body gets a 422); the snapshot GET returned is taken (200)."""
    name = unique("badstate")
    outlet, _ = new_outlet(name, f"{name}-src")
    pusher = LivePusher(outlet, seed=114)
    pusher.start()
    try:
        decoder_id = start_running(client, name)
        snap = client.get(f"/decoders/{decoder_id}/state")
        assert snap.status_code == 200, snap.text
        good = snap.json()
        first = next(iter(good["arrays"]))
        bad_shape = dict(good, arrays=dict(good["arrays"], **{first: [[0.0]]}))
        unknown = dict(good, arrays=dict(good["arrays"], nope=[0.0]))
        other_model = dict(good, model=dict(good["model"] or {}, sha256="0" * 64))
        huge = json.loads(json.dumps(good))  # 10**400: numpy raised OverflowError, which ended the worker
        row = huge["arrays"][first]
        while isinstance(row[0], list):
            row = row[0]
        row[0] = 10**400
        no_model = {key: value for key, value in good.items() if key != "model"}
        no_sha = dict(good, model={key: value for key, value in good["model"].items() if key != "sha256"})
        for body, words in ((bad_shape, f"state array '{first}' must have shape"),
                            (no_model, "model.sha256 must be given, the sha256 of the model the snapshot was taken "
                                       "from (as GET /decoders/{id}/state returns it), got no model"),
                            (no_sha, "got a model with no sha256"),
                            (huge, f"state array '{first}' must be a nested list of numbers of one shape, got an "
                                   "integer of 401 digits (beyond float64's range)"),
                            (unknown, "state snapshot must have arrays"),
                            (other_model, "model.sha256 must be that of the running model")):
            r = client.put(f"/decoders/{decoder_id}/state", json=body)
            assert r.status_code == 422, r.text
            assert words in r.json()["detail"][0]["msg"], r.text
        r = client.put(f"/decoders/{decoder_id}/state", json=good)
        assert r.status_code == 200, r.text
        pusher.halt.set()  # a stalled decoder has its state too: still 422, not "retry" (409)
        wait_status(client, decoder_id, lambda s: s["state"] == "stalled", 30, "the decoder to stall")
        r = client.put(f"/decoders/{decoder_id}/state", json=bad_shape)
        assert r.status_code == 422 and f"state array '{first}' must have shape" in r.text, r.text
    finally:
        pusher.halt.set()
        pusher.join(10)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
