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
