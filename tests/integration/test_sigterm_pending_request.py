"""SIGTERM of ``serve`` while a request waits for a worker's answer: the request is answered at once, 503 naming the
shutdown, and the service's log has no traceback. Before (audit s61ray F3), uvicorn waited ``GRACEFUL_S`` for it,
then cancelled it: the client got a bare ``500 Internal Server Error`` (text, no ``detail``) and the log an ASGI
traceback ending in ``CancelledError: Task cancelled, timeout graceful shutdown exceeded``.

A real server process on loopback (local backend), a real LSL sender, a real dedicated worker frozen with SIGSTOP so
that a reset waits for its answer (10 s) when SIGTERM comes."""

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

from support.bound_port import wait_bound_port
from support.common import TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet
from support.pacing import PacedPusher

pytestmark = pytest.mark.timeout(300)


def test_a_reset_waiting_for_a_frozen_worker_at_sigterm_is_answered_503(models_dir, tmp_path):
    name = unique("termwait")
    pusher = PacedPusher(new_outlet(name, f"{name}-src")[0], test_signal(int(120 * TINY_SFREQ), seed=62), TINY_SFREQ)
    env = {**os.environ, "BCI_STREAM_RECORDINGS_DIR": str(tmp_path / "rec")}
    log_path = tmp_path / "serve.log"
    answer: dict = {}
    pid = None
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "bci-stream"), "serve", "--host", "127.0.0.1",
                                 "--port", "0", "--models-dir", str(models_dir)],
                                stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, env=env)
        try:
            port = wait_bound_port(log_path.read_text, proc)
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
            pusher.start()
            r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                               "options": {"worker": "dedicated"}})
            assert r.status_code == 201, r.text
            did = r.json()["id"]
            st = wait_status(client, did, lambda s: s["state"] == "running" and s["counters"]["samples_out"] > 0,
                             60, "decoding")
            pid = st["pid"]
            started = start_time(pid)
            os.kill(pid, signal.SIGSTOP)  # it reads no command: the reset waits for its answer

            def reset() -> None:
                t0 = time.monotonic()
                try:
                    got = httpx.post(f"http://127.0.0.1:{port}/decoders/{did}/reset", timeout=60)
                    answer.update(code=got.status_code, type=got.headers.get("content-type"), text=got.text)
                except httpx.HTTPError as exc:
                    answer.update(error=repr(exc))
                answer["seconds"] = time.monotonic() - t0

            waiting = threading.Thread(target=reset, daemon=True)
            waiting.start()
            time.sleep(1.0)
            assert waiting.is_alive(), answer  # it waits for the frozen worker (10 s)
            proc.send_signal(signal.SIGTERM)
            waiting.join(60)
            rc = proc.wait(60)
        finally:
            pusher.halt.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            if pid is not None:
                with_pid_gone(pid, started)
    out = log_path.read_text()
    assert answer.get("code") == 503 and answer["type"] == "application/json", (answer, out[-3000:])
    detail = httpx.Response(200, text=answer["text"]).json()["detail"]
    assert f"decoder {did}: its 'reset' command was sent and may have been carried out: the service is shutting " \
           "down (SIGTERM or Ctrl-C)" in detail, detail
    assert "Traceback" not in out and "Exception in ASGI application" not in out, out
    assert "timeout graceful shutdown exceeded" not in out and rc == 0, (rc, out)


def start_time(pid: int) -> str | None:
    """When process ``pid`` started (``/proc/<pid>/stat``'s field 22), or None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except OSError:
        return None


def with_pid_gone(pid: int, started: str | None) -> None:
    """The frozen worker ends (the shutdown kills it; if the test failed first, here): only that process, never
    another that took its pid since."""
    if started is not None and start_time(pid) == started:
        os.kill(pid, signal.SIGKILL)
