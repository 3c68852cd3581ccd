"""A decoder of the ``decoders`` setting whose ``options.placement`` the local backend cannot meet (Ray resources, or
another host) is not started, said as ``POST /decoders`` says it (its place, stream and model first), listed in
``GET /ready``'s ``decoders_not_started`` and counted in ``/metrics``, and the others start (audit s53cov: the
BciStreamError branch of ``start_configured`` was never run by the suite). A real uvicorn server, real workers."""

from __future__ import annotations

import httpx

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from support.common import unique
from support.lsl import wait_for


def test_a_configured_decoder_whose_placement_cannot_be_met_is_listed_not_started(models_dir, tmp_path):
    name = unique("bootplace")
    decoders = [
        {"stream": {"name": f"{name}-a"}, "model": "tiny-gru", "options": {"placement": {"resources": {"room_b": 1}}}},
        {"stream": {"name": f"{name}-b"}, "model": "tiny-gru",
         "options": {"placement": {"hostname": "no-such-host.invalid"}}},
        {"id": "boot-ok", "stream": {"name": f"{name}-c"}, "model": "tiny-gru"},
    ]
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, recordings_dir=tmp_path, decoders=decoders)
    with BackgroundServer(settings) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert [d["id"] for d in client.get("/decoders").json()] == ["boot-ok"]
        ready = client.get("/ready").json()
        first, second = ready["decoders_not_started"]
        assert first == (f"decoders[0] (stream {{'name': '{name}-a'}}, model 'tiny-gru') is not started: "
                         "placement.resources needs the ray backend (bci-stream serve --backend ray); this service "
                         "runs workers on this host only (backend 'local'), got {'resources': {'room_b': 1.0}, "
                         "'soft': False}"), first
        assert second.startswith(f"decoders[1] (stream {{'name': '{name}-b'}}, model 'tiny-gru') is not started: "
                                 "placement.hostname 'no-such-host.invalid' is not this host ("), second
        assert ready["counts"]["decoders_not_started"] == 2
        assert "bci_stream_configured_decoders_not_started 2.0" in client.get("/metrics").text
        wait_for(lambda: client.get("/decoders/boot-ok").json()["state"] == "connecting", 60.0,
                 "the placeable decoder to look for its stream")
