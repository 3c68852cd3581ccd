"""A service with no token on 127.0.0.1 answers only requests made to a loopback name (audit s46, security review:
by DNS rebinding a web page on the host read ``/status`` and started a recording; a WebSocket from another site got
the decoded outputs). A real uvicorn server; requests with the headers a browser would send."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings


@pytest.fixture(scope="module")
def open_server(models_dir: Path):
    with BackgroundServer(Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1)) as srv:
        yield srv


def test_a_foreign_host_is_421_and_loopback_names_are_served(open_server) -> None:
    port = open_server.url.rsplit(":", 1)[1]
    r = httpx.get(f"{open_server.url}/status", headers={"Host": f"attacker.example:{port}"}, timeout=30)
    assert r.status_code == 421, r.text
    assert r.json()["detail"].startswith("Host 'attacker.example' is not this service's: it has no token")
    r = httpx.post(f"{open_server.url}/recordings", headers={"Host": "rebind.attacker.example"},
                   json={"stream": {"name": "x"}, "out": "x.xdf"}, timeout=30)
    assert r.status_code == 421, r.text
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "[::1]"):
        assert httpx.get(f"{open_server.url}/status", headers={"Host": host}, timeout=30).status_code == 200, host
    spec = httpx.get(f"{open_server.url}/openapi.json", timeout=30).json()
    assert "421" in spec["paths"]["/status"]["get"]["responses"]


def test_a_websocket_from_another_site_is_refused(open_server) -> None:
    ws_url = open_server.url.replace("http://", "ws://") + "/decoders/nope/outputs"
    with pytest.raises(InvalidStatus) as err:
        with ws_connect(ws_url, origin="http://attacker.example"):
            pass
    assert err.value.response.status_code == 403
    with ws_connect(ws_url, origin=open_server.url) as ws:  # its own dashboard's origin: accepted (then 4404)
        with pytest.raises(Exception):
            ws.recv(timeout=10)
        assert ws.close_code == 4404


def test_with_a_token_other_names_are_served(models_dir: Path) -> None:
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1, token="t" * 24)
    with BackgroundServer(settings) as srv:
        r = httpx.get(f"{srv.url}/health", headers={"Host": "bci.lab.example"}, timeout=30)
        assert r.status_code == 200, r.text
