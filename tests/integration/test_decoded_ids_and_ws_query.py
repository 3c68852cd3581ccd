"""Over a real uvicorn server and real LSL streams: two decoders of one stream with one model publish outlets
with distinct source_ids (the first keeps the documented one), and a WebSocket with a bad query is closed
with a reason that names the parameter, the rule and the value."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pylsl
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from bci_stream.api.server import BackgroundServer
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.settings import Settings
from support.common import TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet, pull_all, wait_for
from support.pacing import PacedPusher

TOKEN = "ids-ws-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server(models_dir: Path) -> Iterator[BackgroundServer]:
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1, token=TOKEN)
    with BackgroundServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0, headers=AUTH) as c:
        yield c


def start(client: httpx.Client, name: str, **options) -> str:
    r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru", "options": options})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    wait_status(client, decoder_id, lambda s: s["state"] == "running", 90, f"decoder {decoder_id} to run")
    return decoder_id


def decoded_outlets(name: str, n: int) -> list[pylsl.StreamInfo]:
    return wait_for(lambda: (found := pylsl.resolve_bypred(f"name='{name}-decoded'", n, 1.0)) and
                    len(found) >= n and found, 30, f"{n} outlets named {name}-decoded")


def test_second_decoder_of_a_stream_and_model_gets_its_own_source_id(client, models_dir):
    """POST the same stream and model twice (other options): both 201 and decode. Expected: the first outlet keeps
    ``<input source_id>/decoded/<sha[:12]>``, the second gets that plus ``/<its decoder id>`` (its provenance
    outlet too); each status says which; after the first decoder stops, a consumer of the first source_id is
    not moved to the second decoder's outlet (it receives nothing more), while the second decodes on."""
    name = unique("dup")
    sid = f"{name}-src"
    outlet, _ = new_outlet(name, sid)
    pusher = PacedPusher(outlet, test_signal(60_000, seed=121), TINY_SFREQ, chunk=10)
    pusher.start()
    try:
        first = start(client, name)
        second = start(client, name, gap_policy="reset", nan_policy="zero")
        sha = ModelRegistry(models_dir).get("tiny-gru").card.sha256[:12]
        base = f"{sid}/decoded/{sha}"
        st1, st2 = (client.get(f"/decoders/{d}").json() for d in (first, second))
        assert st1["output_stream"]["source_id"] == base
        assert st2["output_stream"]["source_id"] == f"{base}/{second}"
        assert {i.source_id() for i in decoded_outlets(name, 2)} == {base, f"{base}/{second}"}
        prov = pylsl.resolve_bypred(f"name='{name}-decoded-provenance'", 2, 10.0)
        assert {i.source_id() for i in prov} == {f"{base}/provenance", f"{base}/{second}/provenance"}

        info = next(i for i in decoded_outlets(name, 2) if i.source_id() == base)
        consumer = pylsl.StreamInlet(info, max_buflen=60, processing_flags=0, recover=True)
        consumer.open_stream(timeout=10.0)
        y, _ = pull_all(consumer, 50, timeout=30)
        assert len(y) >= 50
        assert client.delete(f"/decoders/{first}").status_code == 200
        consumer.pull_chunk(timeout=1.0, max_samples=100_000)  # what the first decoder sent before it stopped
        out_before = client.get(f"/decoders/{second}").json()["counters"]["samples_out"]
        got, deadline = 0, time.monotonic() + 8.0  # liblsl would recover it to an outlet with the same source_id
        while time.monotonic() < deadline:
            got += len(consumer.pull_chunk(timeout=0.2, max_samples=4096)[1])
        assert got == 0, f"the consumer of {base!r} got {got} samples from another decoder"
        st2 = wait_status(client, second, lambda s: s["counters"]["samples_out"] > out_before + 500, 30,
                          "the second decoder to decode on")
        assert st2["state"] == "running"
        assert client.delete(f"/decoders/{second}").status_code == 200
    finally:
        pusher.halt.set()
        pusher.join(10)


@pytest.fixture(scope="module")
def ws_target(client: httpx.Client) -> Iterator[str]:
    """A running decoder the bad WebSocket queries are aimed at: one for them all (a refused handshake leaves it
    as it was), deleted at the end."""
    name = unique("wsq")
    outlet, _ = new_outlet(name, f"{name}-src")  # noqa: F841 - keeps the stream up
    decoder_id = start(client, name)
    yield decoder_id
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


@pytest.mark.parametrize(("query", "reason"), [
    ("decimate=0", "decimate must be an integer from 1 to 10000, got '0'"),
    ("decimate=abc", "decimate must be an integer from 1 to 10000, got 'abc'"),
    ("decimate=10001", "decimate must be an integer from 1 to 10000, got '10001'"),
    ("decimate=" + "9" * 300, "decimate must be an integer from 1 to 10000, got '999999999999999999999999...'"),
    ("markers=maybe", "markers must be true or false (or 1/0, on/off, yes/no), got 'maybe'"),
    ("latest=sometimes", "latest must be true or false (or 1/0, on/off, yes/no), got 'sometimes'"),
    ("decimate=1_0", "decimate must be an integer from 1 to 10000, got '1_0'"),  # Python's int() read it as 10
    # a typo was ignored (every row sent), a repeat took the last value: both refused since audit s65api F2
    ("decimat=5", "unknown query parameter 'decimat': known are decimate, from_seq, instance, latest, markers, token"),
    ("decimate=2&markers=true&decimate=5", "decimate must be given once, got 2 values"),
    ("latest=true&from_seq=0", "latest=true sends only the newest row: it cannot resume from_seq; give one or the "
                               "other"),
])
def test_websocket_bad_query_is_closed_with_a_reason(client, server, ws_target, query, reason):
    """A bad ``decimate`` or ``markers``, an unknown or repeated parameter: the handshake completes, then the server
    closes with 1008 (policy violation) and a reason naming the parameter, the rule and the bad value; no data is
    sent."""
    url = server.url.replace("http://", "ws://") + f"/decoders/{ws_target}/outputs?{query}"
    with ws_connect(url, additional_headers=AUTH) as ws:
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
    close = info.value.rcvd
    assert close is not None and close.code == 1008 and close.reason == reason, close


def test_websocket_good_query_still_streams(client, server):
    """The control: ``?decimate=5&markers=false`` streams outputs, every 5th by seq."""
    name = unique("wsok")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start(client, name)
    url = server.url.replace("http://", "ws://") + f"/decoders/{decoder_id}/outputs?decimate=5&markers=false"
    pusher = PacedPusher(outlet, test_signal(5_000, seed=122), TINY_SFREQ * 4, chunk=10)
    with ws_connect(url, additional_headers=AUTH) as ws:
        pusher.start()
        seq = json.loads(ws.recv(timeout=20))["seq"]
    pusher.halt.set()
    pusher.join(10)
    assert seq and np.all(np.asarray(seq) % 5 == 0)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_latest_sends_only_the_newest_row_and_counts_the_rows_passed_over(client, server):
    """``?latest=true`` (a feedback display, a dashboard): each message carries one row, the newest of those waiting,
    and ``skipped`` counts every row passed over for it, so consecutive messages account for every seq between them;
    at 2 kHz of outputs (the tiny model's 500 Hz stream sent at 4x) rows are passed over. Before: every row was sent,
    and a display had to read the whole backlog to reach the current output."""
    name = unique("wslatest")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start(client, name)
    url = server.url.replace("http://", "ws://") + f"/decoders/{decoder_id}/outputs?latest=true"
    pusher = PacedPusher(outlet, test_signal(6_000, seed=123), TINY_SFREQ * 4, chunk=10)
    messages = []
    with ws_connect(url, additional_headers=AUTH) as ws:
        pusher.start()
        while len(messages) < 20:
            messages.append(json.loads(ws.recv(timeout=20)))
    pusher.halt.set()
    pusher.join(10)
    for m in messages:
        assert len(m["seq"]) == len(m["t"]) == len(m["y"]) == 1 and m["dropped"] == 0, m
    for before, after in zip(messages, messages[1:]):  # every seq between two messages: sent or skipped
        assert after["seq"][0] - before["seq"][0] == after["skipped"] - before["skipped"] + 1, (before, after)
    assert messages[-1]["skipped"] > 0, messages[-1]
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_a_decoder_id_given_in_the_request_is_its_id_until_its_delete(client, server):
    """Audit s46 (API S4): ``id`` in the body names the decoder (its URL, its status, its /metrics label); a second
    start with that id while it exists is 409 naming it, a malformed id 422 naming ``body.id``; after its DELETE the id
    can be given again."""
    name = unique("chosen-id")
    outlet, _ = new_outlet(name, f"{name}-src")
    body = {"stream": {"name": name}, "model": "tiny-gru", "id": "left-motor.v2"}
    r = client.post("/decoders", json=body)
    assert r.status_code == 201 and r.json()["id"] == "left-motor.v2", r.text
    assert r.headers["Location"] == "/decoders/left-motor.v2"
    st = wait_status(client, "left-motor.v2", lambda s: s["state"] == "running", 90, "the decoder to run")
    assert st["id"] == "left-motor.v2"
    assert 'decoder_id="left-motor.v2"' in httpx.get(f"{server.url}/metrics", timeout=30).text
    again = client.post("/decoders", json={**body, "stream": {"name": unique("other")}})
    assert again.status_code == 409 and "decoder id 'left-motor.v2' is in use" in again.json()["detail"], again.text
    for bad in ("../x", ".hidden", "", "x" * 41, "a b"):
        r = client.post("/decoders", json={**body, "id": bad})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "id"], (bad, r.text)
    assert client.delete("/decoders/left-motor.v2").status_code == 200
    r = client.post("/decoders", json=body)
    assert r.status_code == 201 and r.json()["id"] == "left-motor.v2", r.text
    assert client.delete("/decoders/left-motor.v2").status_code == 200
    del outlet


def test_a_plain_get_of_the_websocket_endpoint_says_it_is_one(client):
    """``curl .../decoders/ID/outputs`` answered 404 'Not Found', as for a wrong path or id (audit s69publish F5); now
    426 Upgrade Required naming the WebSocket and its parameters, and the route is in the OpenAPI document."""
    r = client.get("/decoders/any-id/outputs")
    assert r.status_code == 426 and r.headers["upgrade"] == "websocket", r.text
    assert r.json()["detail"].startswith("/decoders/any-id/outputs is a WebSocket endpoint: connect with a WebSocket")
    assert "from_seq, instance" in r.json()["detail"]
    assert "/decoders/{decoder_id}/outputs" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize("selected_by", ["name", "source_id"])
def test_an_output_named_as_its_own_input_is_refused_once_the_input_is_found(client, selected_by):
    """The request's check sees only the selector's fields: an input selected by name given its own source_id as
    ``output_source_id`` (or by source_id, given its own name as ``output_name``) was decoded under it, the amplifier
    and the decoded stream then shared a source_id (or a name), and the warning blamed 'another service' (audit
    s69publish F3, F4). The worker refuses it, naming the option and the input."""
    name = unique("ownid")
    outlet, _ = new_outlet(name, f"{name}-src")
    stream = {"name": name} if selected_by == "name" else {"source_id": f"{name}-src"}
    options = {"output_source_id": f"{name}-src"} if selected_by == "name" else {"output_name": name}
    r = client.post("/decoders", json={"stream": stream, "model": "tiny-gru", "options": options})
    assert r.status_code == 201, r.text
    did = r.json()["id"]
    st = wait_status(client, did, lambda s: s["state"] == "error", 60, "the refusal")
    said = st["last_error"] or ""
    option = "output_source_id" if selected_by == "name" else "output_name"
    assert f"options.{option} must differ from the input stream's" in said, said
    assert client.delete(f"/decoders/{did}").status_code == 200
    del outlet
