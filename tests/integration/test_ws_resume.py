"""``WS /decoders/{id}/outputs?from_seq=N``: a client that reconnects gets what it missed, as far as the output ring
still holds it (audit s46 of an API client: a dashboard that reconnected lost the ~2 s between its two sessions,
though the ring held them). Real uvicorn server, real LSL stream, real WebSocket clients."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from support.common import TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet
from support.pacing import PacedPusher


@pytest.fixture(scope="module")
def server(models_dir: Path) -> Iterator[BackgroundServer]:
    with BackgroundServer(Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1)) as srv:
        yield srv


@pytest.fixture(scope="module")
def decoding(server: BackgroundServer) -> Iterator[tuple[httpx.Client, str, PacedPusher]]:
    """A decoder with a 2 s output ring, its stream pushed in real time for the module."""
    name = unique("wsres")
    outlet, _ = new_outlet(name, f"{name}-src")
    pusher = PacedPusher(outlet, test_signal(int(TINY_SFREQ * 120), seed=146), TINY_SFREQ, chunk=10)
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                           "options": {"outputs_buffer_s": 2.0}})
        assert r.status_code == 201, r.text
        did = r.json()["id"]
        pusher.start()
        wait_status(client, did, lambda s: s["counters"]["samples_out"] > 200, 90, f"decoder {did} to decode")
        yield client, did, pusher
        pusher.halt.set()
        pusher.join(10)
        assert client.delete(f"/decoders/{did}").status_code == 200


def _url(server: BackgroundServer, did: str, query: str = "") -> str:
    return server.url.replace("http://", "ws://") + f"/decoders/{did}/outputs" + (f"?{query}" if query else "")


def _read(ws, until_seq: int | None = None, n_rows: int = 1) -> tuple[list[int], int]:
    """Seqs of the messages read until ``n_rows`` rows (and, if given, one at ``until_seq`` or after); the last
    message's ``dropped``."""
    seqs: list[int] = []
    dropped = 0
    while len(seqs) < n_rows or (until_seq is not None and seqs[-1] < until_seq):
        msg = json.loads(ws.recv(timeout=20))
        seqs += msg["seq"]
        dropped = msg["dropped"]
    return seqs, dropped


def test_a_client_that_reconnects_from_the_next_seq_misses_nothing(server, decoding):
    client, did, _ = decoding
    with ws_connect(_url(server, did)) as ws:
        first, _ = _read(ws, n_rows=100)
    time.sleep(1.0)  # away for a second: 500 outputs at 500 Hz, inside the 2 s ring
    now = client.get(f"/decoders/{did}").json()["counters"]["samples_out"]
    with ws_connect(_url(server, did, f"from_seq={first[-1] + 1}")) as ws:
        again, dropped = _read(ws, until_seq=now - 1)  # seq counts from 0: the newest then
    assert again[0] == first[-1] + 1 and dropped == 0
    assert np.array_equal(np.diff(again), np.ones(len(again) - 1)), "every output after the first session, in order"


def test_a_resume_from_before_the_ring_counts_what_it_no_longer_holds(server, decoding):
    client, did, _ = decoding
    wait_status(client, did, lambda s: s["counters"]["samples_out"] > 3 * TINY_SFREQ, 60, "more than the ring")
    with ws_connect(_url(server, did, "from_seq=0")) as ws:
        seqs, dropped = _read(ws, n_rows=10)
    assert seqs[0] > 0 and dropped == seqs[0], (seqs[0], dropped)  # seq 0 .. seqs[0]-1 are gone from the ring
    assert seqs[0] >= client.get(f"/decoders/{did}").json()["counters"]["samples_out"] - 2 * TINY_SFREQ - 200


def test_a_resume_from_a_seq_not_decoded_yet_starts_there(server, decoding):
    client, did, _ = decoding
    ahead = client.get(f"/decoders/{did}").json()["counters"]["samples_out"] + 300
    with ws_connect(_url(server, did, f"from_seq={ahead}")) as ws:
        seqs, dropped = _read(ws, n_rows=10)
    assert seqs[0] == ahead and dropped == 0


def test_a_bad_from_seq_is_closed_with_a_reason(server, decoding):
    _, did, _ = decoding
    with ws_connect(_url(server, did, "from_seq=-3")) as ws:
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
    close = info.value.rcvd
    assert close is not None and close.code == 1008
    assert close.reason == f"from_seq must be an integer from 0 to {2**53}, got '-3'", close.reason


def test_a_resume_of_a_decoder_made_again_under_its_id_starts_at_its_first_output(server):
    """The client resumes with the ``instance`` of the messages it got: when the decoder under that id is another one
    now (deleted and posted again, or the service restarted with its [[decoders]]), its outputs come from its first
    seq on. Before, from the old seq on: the new decoder's first rows were withheld, and the stream then looked
    continuous (audit s69publish F1: 10-14 s missing, dropped 0)."""
    name = unique("wsinst")
    outlet, _ = new_outlet(name, f"{name}-src")
    pusher = PacedPusher(outlet, test_signal(int(TINY_SFREQ * 120), seed=147), TINY_SFREQ, chunk=10)
    body = {"id": f"{name}-dec", "stream": {"name": name}, "model": "tiny-gru", "options": {"outputs_buffer_s": 10.0}}
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        assert client.post("/decoders", json=body).status_code == 201
        did = body["id"]
        pusher.start()
        try:
            wait_status(client, did, lambda s: s["counters"]["samples_out"] > 1000, 90, "the first decoder")
            with ws_connect(_url(server, did)) as ws:
                msg = json.loads(ws.recv(timeout=20))
            first, last = msg["instance"], msg["seq"][-1]
            with ws_connect(_url(server, did, f"from_seq={last + 1}&instance={first}")) as ws:  # the same one
                again = json.loads(ws.recv(timeout=20))
            assert again["instance"] == first and again["seq"][0] == last + 1
            assert client.delete(f"/decoders/{did}").status_code == 200
            assert client.post("/decoders", json=body).status_code == 201
            wait_status(client, did, lambda s: s["counters"]["samples_out"] > 200, 90, "the decoder made again")
            with ws_connect(_url(server, did, f"from_seq={last + 1}&instance={first}")) as ws:
                anew = json.loads(ws.recv(timeout=20))
            assert anew["instance"] != first and anew["seq"][0] == 0 and anew["dropped"] == 0, anew["seq"][:3]
            with ws_connect(_url(server, did, f"from_seq={last + 1}")) as ws:  # no instance: as before, from that seq
                assert json.loads(ws.recv(timeout=20))["seq"][0] == last + 1
        finally:
            pusher.halt.set()
            pusher.join(10)
            client.delete(f"/decoders/{did}")


def test_an_instance_without_from_seq_is_closed_with_a_reason(server, decoding):
    _, did, _ = decoding
    with ws_connect(_url(server, did, "instance=5")) as ws:
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
    assert info.value.rcvd.code == 1008 and info.value.rcvd.reason.startswith("instance goes with from_seq")
