"""`bci-stream serve` stops on SIGTERM whatever its WebSocket output clients did while no row came: one that left,
one still connected.

The output loop only sent: with nothing to send (a decoder waiting for its stream, or stalled) it polled for ever, so
a client that had gone was never noticed, its task never ended, and uvicorn's shutdown waited on it for good ("Waiting
for background tasks to complete"; found by an exploratory run: a stalled decoder, one client opened and closed, then
SIGTERM: still running minutes later). A client still connected at shutdown was waited on the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from support.bound_port import wait_bound_port
from support.common import REPO, unique

pytestmark = pytest.mark.timeout(300)


def test_sigterm_ends_serve_after_a_client_left_and_with_one_still_connected() -> None:
    lines: list[str] = []
    serve = subprocess.Popen([str(Path(sys.executable).with_name("bci-stream")), "serve", "--port", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                             start_new_session=True)
    reader = threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in serve.stdout), daemon=True)
    reader.start()
    try:
        port = wait_bound_port(lambda: "\n".join(lines), serve)
        url = f"http://127.0.0.1:{port}"
        r = httpx.post(f"{url}/decoders", json={"stream": {"name": unique("no-such-stream")}, "model": "sim-mi-gru"},
                       timeout=30)  # it waits for its stream: no output row ever comes
        assert r.status_code == 201, r.text
        outputs = f"ws://127.0.0.1:{port}/decoders/{r.json()['id']}/outputs"
        with ws_connect(outputs, open_timeout=30):
            pass  # opened and closed at once
        with ws_connect(outputs, open_timeout=30):  # still connected when the server stops
            serve.send_signal(signal.SIGTERM)
            try:
                rc = serve.wait(timeout=120)  # it hung for good (minutes, then killed by hand)
            except subprocess.TimeoutExpired:
                pytest.fail("serve still running 120 s after SIGTERM:\n" + "\n".join(lines[-20:]))
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait(timeout=30)
        reader.join(timeout=10)
    out = "\n".join(lines)
    assert rc == -signal.SIGTERM and "Application shutdown complete" in out, out
