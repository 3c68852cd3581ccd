"""A Ray actor's log follows the service's ``log_level``: the actor's process is started by its Ray node, not by
the service, so it does not inherit ``BCI_STREAM_LOG_LEVEL``; the level goes to it as an argument. A one-node Ray
cluster on loopback, a real ``serve --backend ray`` (whose driver prints its actors' lines), real LSL."""

from __future__ import annotations

import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bci_stream.service.backends.ray_connect import kept_signal_handlers
from support.bound_port import listening_ports
from support.common import TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet, wait_for
from support.pacing import PacedPusher
from support.serve_process import serve_process

try:
    from ray.cluster_utils import Cluster
except ImportError:  # the cluster extra is not installed
    Cluster = None

pytestmark = [pytest.mark.skipif(Cluster is None, reason="Ray is not installed (pip install '.[cluster]')"),
              pytest.mark.timeout(300)]


def api_port(proc: subprocess.Popen, lines: list[str]) -> int:
    """The port of the API of ``proc``, a serve at a level that hides uvicorn's ``running on`` line; it listens for
    its Ray actors too: the one that answers ``/health``."""
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None, f"serve exited ({proc.returncode}):\n" + "\n".join(lines[-40:])
        for port in listening_ports(proc.pid):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    return port
            except httpx.HTTPError:
                pass
        assert time.monotonic() < deadline, "serve's API not up after 180 s:\n" + "\n".join(lines[-40:])
        time.sleep(0.2)


def test_an_actor_logs_at_the_services_level(models_dir, tmp_path):
    """Setting ``log_level`` error: an actor's ERROR line (no stream matched) is printed, its WARNING (no consumer of
    its
    decoded stream) is not, nor liblsl's INFO lines. Before: actors logged at INFO whatever the level, and liblsl's
    INFO lines (its configuration, its build), which the service turns off in its own processes, in each actor."""
    cluster = Cluster()
    outlet, _ = new_outlet(unique("raylog"), unique("raylog-src"))
    pusher = PacedPusher(outlet, test_signal(120 * int(TINY_SFREQ)), TINY_SFREQ)
    try:
        with kept_signal_handlers():  # Ray's head leaves its SIGTERM handler (sys.exit) in this xdist worker
            cluster.add_node(num_cpus=1, object_store_memory=100 * 2**20, node_ip_address="127.0.0.1",
                             include_dashboard=False)
        env = {**os.environ, "BCI_STREAM_RECORDINGS_DIR": str(tmp_path / "rec"), "BCI_STREAM_RAY_LISTEN_HOST":
               "127.0.0.1", "BCI_STREAM_RAY_START_TIMEOUT": "90", "BCI_STREAM_LOG_LEVEL": "error"}
        with serve_process(env, "--backend", "ray", "--ray-address", cluster.address, "--host", "127.0.0.1",
                           "--models-dir", str(models_dir)) as (proc, lines):
            with httpx.Client(base_url=f"http://127.0.0.1:{api_port(proc, lines)}", timeout=120) as client:
                pusher.start()
                bodies = [{"stream": {"name": outlet.get_info().name()}, "model": "tiny-gru",
                           "options": {"wait_for_consumer_s": 1}},
                          {"stream": {"name": unique("nowhere")}, "model": "tiny-gru",
                           "options": {"resolve_timeout": 1}}]
                with ThreadPoolExecutor(2) as pool:  # both actors start at once (each POST waits for its actor)
                    decoding, nowhere = pool.map(lambda body: client.post("/decoders", json=body), bodies)
                for r in (decoding, nowhere):
                    assert r.status_code == 201, r.text
                wait_status(client, decoding.json()["id"], lambda s: s["counters"]["samples_out"] > 0, 120,
                            "decoding after its wait for a consumer")
                wait_status(client, nowhere.json()["id"], lambda s: s["state"] == "error", 120, "no stream: error")
                wait_for(lambda: any("no LSL stream matched" in line for line in lines), 30, "the actor's ERROR line")
        out = "\n".join(lines)
    finally:
        pusher.halt.set()
        cluster.shutdown()
    assert re.search(r"ray-decoder\[\w+\] ERROR decoder \w+: no LSL stream matched", out), out[-3000:]
    assert "no consumer of" not in out and " WARNING " not in out, out[-3000:]
    assert "INFO|" not in out, out[-3000:]  # nor liblsl's own INFO lines (before: two in each actor)
