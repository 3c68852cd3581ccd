"""The API token never reaches the service log, though uvicorn logs every request's path with its query string.

A real ``bci-stream serve`` (its own logging set up by uvicorn, INFO level), its stdout and stderr read together.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from support.bound_port import wait_bound_port
from support.common import unique
from support.lsl import new_outlet, wait_for
from support.serve_process import serve_process

pytestmark = pytest.mark.timeout(180)

SECRET = "fixG-secret-token-4711"


def test_token_in_the_query_is_redacted_in_the_log(tmp_path: Path):
    """HTTP requests and a WebSocket with ``?token=`` (as the dashboard sends it), one with a wrong token: the log
    has their lines, with ``token=***``, and never the token's value."""
    env = dict(os.environ, BCI_STREAM_TOKEN=SECRET, BCI_STREAM_RECORDINGS_DIR=str(tmp_path))
    with serve_process(env) as (proc, lines):
        port = wait_bound_port(lambda: "\n".join(lines), proc)
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        assert httpx.get(f"{url}/status?token={SECRET}", timeout=10).status_code == 200
        assert httpx.get(f"{url}/decoders?token={SECRET}&x=1", timeout=10).status_code == 200
        assert httpx.get(f"{url}/status?token={SECRET}-wrong", timeout=10).status_code == 401
        with ws_connect(f"ws://127.0.0.1:{port}/decoders/nope/outputs?token={SECRET}") as ws:
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=10)
        # a percent-encoded name is the same parameter to the server (accepted): redacted too (before: logged)
        assert httpx.get(f"{url}/status?tok%65n={SECRET}", timeout=10).status_code == 200
        with ws_connect(f"ws://127.0.0.1:{port}/decoders/nope/outputs?decimate=2&%74oken={SECRET}") as ws:
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=10)
        # the token anywhere else (audit s46 M2: logged before): an encoded '=', another name, a list name, the path,
        # its characters percent-encoded
        enc = "".join(f"%{ord(c):02X}" if c in "seT" else c for c in SECRET)
        for path in (f"/status?token%3D{SECRET}", f"/status?t={SECRET}", f"/status?token[]={SECRET}",
                     f"/decoders/{SECRET}", f"/decoders/{enc}"):
            assert httpx.get(f"{url}{path}", timeout=10).status_code in (401, 404)
    text = "\n".join(lines)
    assert SECRET not in text, text
    assert enc not in text and text.count('/decoders/*** HTTP/1.1" 401') == 2, text
    assert text.count("token=***") >= 4, text  # the four requests are logged, redacted
    assert '"GET /status?token=*** HTTP/1.1" 200' in text and "/decoders?token=***&x=1" in text, text
    assert "WebSocket /decoders/nope/outputs?token=***" in text, text
    assert '"GET /status?tok%65n=*** HTTP/1.1" 200' in text and "outputs?decimate=2&%74oken=***" in text, text


def _environ(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")


@pytest.mark.parametrize("key", ["BCI_STREAM_TOKEN", "bci_stream_token"])
def test_the_worker_processes_do_not_inherit_the_token(tmp_path: Path, models_dir: Path, key: str):
    """Audit s46 (security S5): a decoder's worker process, started by the service's fork server, had the token in
    its environment (``/proc/<pid>/environ``), though it never needs it. ``serve`` takes it out of its environment
    (however it was spelt) before it starts any process: the worker's environment has no token."""
    name = unique("tokenless")
    outlet, _ = new_outlet(name, f"{name}-src")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("BCI_STREAM_") or k == "BCI_STREAM_DATA"}
    env.update({key: SECRET, "BCI_STREAM_RECORDINGS_DIR": str(tmp_path), "BCI_STREAM_MODELS_DIR": str(models_dir)})
    with serve_process(env) as (proc, lines):
        port = wait_bound_port(lambda: "\n".join(lines), proc)
        auth = {"Authorization": f"Bearer {SECRET}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=30) as client:
            r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                               "options": {"worker": "dedicated"}})
            assert r.status_code == 201, r.text
            st = wait_for(lambda: (s := client.get(f"/decoders/{r.json()['id']}").json())["state"] == "running"
                          and s, 60, "the decoder running")
            worker = _environ(st["pid"])
            assert client.get("/status").status_code == 200  # the service still checks the token it was given
            assert httpx.get(f"http://127.0.0.1:{port}/status", timeout=10).status_code == 401
    assert any(v.startswith("BCI_STREAM_RECORDINGS_DIR=") for v in worker), worker  # the environment was read
    assert not any(v.upper().startswith("BCI_STREAM_TOKEN=") or SECRET in v for v in worker), worker
    del outlet
