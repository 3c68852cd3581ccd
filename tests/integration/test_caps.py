"""The service's caps (audit s46 security S3, S6; :mod:`bci_stream.service.caps`), each set small: the start beyond
``max_decoders`` (a config file's ``[[decoders]]`` counted) or ``max_recordings`` (only those searching or recording)
is 429 naming the setting, its value and what to do, declared in ``/openapi.json``; a DELETE frees the slot. A
WebSocket beyond ``max_ws_clients`` (over all decoders) is closed with 1013 and a reason naming the setting; a closed
one frees its slot. A recording of a stream with more channels than ``max_record_channels`` ends in ``error`` saying
so, no file written; one at the cap records. Before, each was accepted (150 recordings, 200 WebSocket clients, a
200,000-channel stream).

A real uvicorn server on 127.0.0.1, real LSL outlets on loopback, real WebSocket clients.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pylsl
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from bci_stream.lsl.info import make_stream_info
from support.common import TINY_CH_NAMES, unique
from support.http import wait_status
from support.lsl import paced_source, wait_for

TOKEN = "caps-token-s48"
AUTH = {"Authorization": f"Bearer {TOKEN}"}



def serve(tmp: Path, models_dir: Path, **caps) -> BackgroundServer:
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, recordings_dir=tmp / "rec",
                        status_interval=0.1, token=TOKEN, **caps)
    return BackgroundServer(settings)


def declared_429(client: httpx.Client, path: str) -> bool:
    return "429" in client.get("/openapi.json").json()["paths"][path]["post"]["responses"]


def never_stream(**options) -> dict:
    """A decoder on a stream that never comes (it waits, listed, in state starting/connecting)."""
    return {"stream": {"name": unique("caps-never")}, "model": "tiny-gru",
            "options": {"resolve_timeout": 600, **options}}


def caps_metrics(client: httpx.Client) -> dict[str, tuple[float, float]]:
    """``/metrics``'s cap gauges: ``{cap: (limit, used)}``."""
    found = re.findall(r'^bci_stream_cap_(limit|used)\{cap="(\w+)"\} (\S+)$', client.get("/metrics").text, re.M)
    values = {(kind, cap): float(v) for kind, cap, v in found}
    return {cap: (values[("limit", cap)], values[("used", cap)]) for kind, cap in values if kind == "limit"}


@pytest.fixture()
def client_of(tmp_path: Path, models_dir: Path):
    """``client_of(**caps)``: an HTTP client of a server with those settings (stopped at the test's end)."""
    opened: list = []

    def make(**caps) -> tuple[BackgroundServer, httpx.Client]:
        srv = serve(tmp_path, models_dir, **caps).start()
        client = httpx.Client(base_url=srv.url, timeout=60.0, headers=AUTH)
        opened.append((srv, client))
        return srv, client

    yield make
    for srv, client in opened:
        client.close()
        srv.stop()


def test_a_decoder_beyond_max_decoders_is_429_naming_the_setting_and_a_delete_frees_its_slot(client_of):
    """max_decoders=2 with one [[decoders]] entry: the config file's decoder counts, so the second POST is 429."""
    _, client = client_of(max_decoders=2, decoders=[{"id": "cfg-one", **never_stream()}])
    assert [d["id"] for d in client.get("/decoders").json()] == ["cfg-one"]
    first = client.post("/decoders", json=never_stream())
    assert first.status_code == 201, first.text
    over = client.post("/decoders", json=never_stream())
    assert over.status_code == 429, over.text
    assert over.json() == {"detail": (
        "at most max_decoders=2 decoders may be listed at once (a setting of the service), and 2 are (a decoder "
        "counts until its DELETE, in state 'error' too): DELETE /decoders/{id} one no longer needed (GET /decoders "
        "lists them), or raise max_decoders (BCI_STREAM_MAX_DECODERS)")}
    assert "retry-after" not in over.headers and declared_429(client, "/decoders")
    assert len(client.get("/decoders").json()) == 2  # nothing started by the refused POST
    assert caps_metrics(client)["max_decoders"] == (2, 2)  # an alert can see the cap reached
    assert client.delete("/decoders/cfg-one").status_code == 200
    again = client.post("/decoders", json=never_stream())
    assert again.status_code == 201, again.text
    assert client.post("/decoders", json=never_stream()).status_code == 429


def test_a_recording_beyond_max_recordings_is_429_those_ended_do_not_count_and_a_delete_frees_its_slot(client_of):
    _, client = client_of(max_recordings=1)
    ended = client.post("/recordings", json={"stream": {"name": unique("caps-gone")}, "out": "ended.xdf",
                                             "options": {"resolve_timeout": 0.5}})
    assert ended.status_code == 201, ended.text
    wait_for(lambda: client.get(f"/recordings/{ended.json()['id']}").json()["state"] == "error", 60,
             "the recording of a missing stream to end in error")
    missing = unique("caps-wait")
    body = {"stream": {"name": missing}, "options": {"resolve_timeout": 600}}
    running = client.post("/recordings", json={**body, "out": "a.xdf"})
    assert running.status_code == 201, running.text  # the one in error is listed, but holds no thread: not counted
    over = client.post("/recordings", json={**body, "out": "b.xdf"})
    assert over.status_code == 429, over.text
    assert over.json() == {"detail": (
        "at most max_recordings=1 recordings may run at once (a setting of the service), and 1 are searching or "
        "recording: DELETE /recordings/{id} one (those stopped or in error do not count), or raise max_recordings "
        "(BCI_STREAM_MAX_RECORDINGS)")}
    assert declared_429(client, "/recordings")
    assert len(client.get("/recordings").json()) == 2  # the refused one was never listed
    assert caps_metrics(client)["max_recordings"] == (1, 1)  # the one in error not counted
    assert client.delete(f"/recordings/{running.json()['id']}").status_code == 200
    again = client.post("/recordings", json={**body, "out": "b.xdf"})
    assert again.status_code == 201, again.text
    client.delete(f"/recordings/{again.json()['id']}")


def test_a_stream_with_more_channels_than_max_record_channels_is_not_recorded_and_one_at_the_cap_is(client_of):
    srv, client = client_of(max_record_channels=4)
    rec_dir = srv.settings.recordings_dir
    wide, narrow = unique("caps-wide"), unique("caps-narrow")
    outlets = [pylsl.StreamOutlet(make_stream_info(wide, "EEG", TINY_CH_NAMES, 250.0, f"{wide}-src", unit="uV")),
               pylsl.StreamOutlet(make_stream_info(narrow, "EEG", TINY_CH_NAMES[:4], 250.0, f"{narrow}-src",
                                                   unit="uV"))]
    refused = client.post("/recordings", json={"stream": {"name": wide}, "out": "wide.xdf"})
    assert refused.status_code == 201, refused.text
    st = wait_for(lambda: (s := client.get(f"/recordings/{refused.json()['id']}").json())["state"] == "error" and s,
                  60, "the wide stream's recording to end in error")
    assert st["error"] == (
        f"stream {wide!r} has 8 channels, more than max_record_channels=4, the most a recording with no model takes "
        "(a setting of the service): nothing recorded; raise max_record_channels for a stream that has that many")
    assert st["path"] is None and not (rec_dir / "wide.xdf").exists() and st["samples"] == 0
    kept = client.post("/recordings", json={"stream": {"name": narrow}, "out": "narrow.xdf"})
    assert kept.status_code == 201, kept.text
    wait_for(lambda: client.get(f"/recordings/{kept.json()['id']}").json()["state"] == "recording", 60,
             "the 4-channel stream's recording")
    assert (rec_dir / "narrow.xdf").exists()
    client.delete(f"/recordings/{kept.json()['id']}")
    assert len(outlets) == 2  # kept open until here


def ws_url(srv: BackgroundServer, decoder_id: str) -> str:
    return f"{srv.url.replace('http', 'ws', 1)}/decoders/{decoder_id}/outputs?token={TOKEN}"


def first_rows(ws) -> dict:
    """The first output message the socket gets (ConnectionClosed if it is closed instead)."""
    while True:
        message = json.loads(ws.recv(timeout=60))
        if "seq" in message:
            return message


def closed_with(srv: BackgroundServer, decoder_id: str) -> ConnectionClosed:
    with ws_connect(ws_url(srv, decoder_id), open_timeout=30) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            first_rows(ws)
    return closed.value


def test_a_websocket_beyond_max_ws_clients_over_all_decoders_is_closed_1013_and_a_closed_one_frees_its_slot(
        client_of):
    srv, client = client_of(max_ws_clients=1)
    name = unique("caps-ws")
    outlet, pusher = paced_source(name, 600, seed=48)
    try:
        r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru"})
        assert r.status_code == 201, r.text
        live = r.json()["id"]
        other = client.post("/decoders", json=never_stream())
        assert other.status_code == 201, other.text
        wait_status(client, live, lambda s: s["state"] == "running", 90, "the decoder to run")
        with ws_connect(ws_url(srv, live), open_timeout=30) as holder:
            assert first_rows(holder)["decoder_id"] == live
            assert caps_metrics(client) == {"max_decoders": (64, 2), "max_recordings": (64, 0),
                                            "max_ws_clients": (1, 1)}
            for decoder_id in (live, other.json()["id"]):  # the cap is over all decoders
                exc = closed_with(srv, decoder_id)
                assert exc.rcvd is not None and exc.rcvd.code == 1013, exc
                assert exc.rcvd.reason == ("max_ws_clients=1 WebSocket clients are open (all decoders): close one, "
                                           "or raise max_ws_clients")

        def served() -> dict | None:  # the holder's session ends once the server sees it gone: then a new one is
            try:
                with ws_connect(ws_url(srv, live), open_timeout=30) as ws:
                    return first_rows(ws)
            except ConnectionClosed:
                return None

        assert wait_for(served, 60, "a new client served once the first closed")["decoder_id"] == live
    finally:
        pusher.halt.set()
        del outlet  # its stream leaves now
