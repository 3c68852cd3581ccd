"""``bci-stream serve --backend ray`` stops cleanly on SIGTERM (Kubernetes stops pods with it): ``ray.init`` installs
a SIGTERM handler of its own (``sys.exit``), which cut uvicorn's shutdown short (a C stack dump, tracebacks, no
``Application shutdown complete``). A one-node Ray cluster on loopback and a real server process.

A ``POST /decoders`` still waiting for its Ray placement at SIGTERM is answered at once, 503 naming the shutdown (audit
s61ray F3: before, uvicorn cancelled it after its graceful wait, a bare 500 and an ASGI traceback in the log)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from bci_stream.service.backends.ray_connect import kept_signal_handlers
from support.bound_port import wait_bound_port

try:
    from ray.cluster_utils import Cluster
except ImportError:  # the cluster extra is not installed
    Cluster = None

pytestmark = [pytest.mark.skipif(Cluster is None, reason="Ray is not installed (pip install '.[cluster]')"),
              pytest.mark.timeout(300)]


def test_serve_with_ray_backend_shuts_down_on_sigterm(models_dir, tmp_path):
    """SIGTERM to ``serve --backend ray``: uvicorn's own shutdown runs (lifespan: the supervisor stops the
    decoders), the process ends with status 0 (not -15: uvicorn re-raises the signal it caught), and no Ray SIGTERM
    handler fires. One decoder holds the node's only ``room``; a second asks for it and waits when SIGTERM comes."""
    cluster = Cluster()
    before = signal.getsignal(signal.SIGTERM)
    try:
        with kept_signal_handlers():  # Ray's head leaves its SIGTERM handler (sys.exit) in this xdist worker
            cluster.add_node(num_cpus=1, object_store_memory=100 * 2**20, node_ip_address="127.0.0.1",
                             include_dashboard=False, resources={"room": 1})
        # a Ray handler left here would turn xdist's SIGTERM at teardown into a SystemExit (INTERNALERROR, hang)
        assert signal.getsignal(signal.SIGTERM) is before
        env = {**os.environ, "BCI_STREAM_RECORDINGS_DIR": str(tmp_path / "rec"), "BCI_STREAM_RAY_LISTEN_HOST":
               "127.0.0.1"}
        log_path = tmp_path / "serve.log"
        answer: dict = {}
        with open(log_path, "w") as log:
            proc = subprocess.Popen([str(Path(sys.executable).parent / "bci-stream"), "serve", "--backend", "ray",
                                     "--ray-address", cluster.address, "--host", "127.0.0.1", "--port", "0",
                                     "--models-dir", str(models_dir)],
                                    stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, env=env)
            try:
                port = wait_bound_port(log_path.read_text, proc)
                assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
                url = f"http://127.0.0.1:{port}/decoders"
                first = httpx.post(url, json=room_decoder("termroom-a"), timeout=120)
                assert first.status_code == 201, first.text
                waiting = threading.Thread(target=lambda: answer.update(r=httpx.post(
                    url, json=room_decoder("termroom-b"), timeout=120)), daemon=True)
                waiting.start()
                time.sleep(2.0)
                assert waiting.is_alive(), answer  # waiting for the room the first one holds (ray_start_timeout 60 s)
                proc.send_signal(signal.SIGTERM)
                waiting.join(90)
                rc = proc.wait(60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
        out = log_path.read_text()
    finally:
        cluster.shutdown()
    assert "Application shutdown complete" in out and "Finished server process" in out, out
    assert "SIGTERM received" not in out and "Traceback" not in out and "SystemExit" not in out, out
    assert rc == 0, (rc, out)
    assert answer["r"].status_code == 503, (answer["r"].status_code, answer["r"].text, out)
    assert ("was not started: the service is shutting down (SIGTERM or Ctrl-C) while its worker waited to be placed "
            "or to start") in answer["r"].json()["detail"], answer["r"].text
    assert "Exception in ASGI application" not in out and "graceful shutdown exceeded" not in out, out


def room_decoder(name: str) -> dict:
    """A decoder asking for the node's ``room`` (its stream need not exist: the actor starts and waits for it)."""
    return {"stream": {"name": name}, "model": "tiny-gru", "options": {"placement": {"resources": {"room": 1}}}}
