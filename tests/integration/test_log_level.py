"""The ``log_level`` setting reaches the service's own loggers, in the API process and in every worker, not only
uvicorn's: a real ``bci-stream serve``, its stderr read."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from support.bound_port import listening_port
from support.common import REPO, unique
from support.http import wait_status

pytestmark = pytest.mark.timeout(240)


def serve_and_fail_two_decoders(level: str, tmp_path: Path) -> str:
    """A serve at ``level`` whose two decoders (shared, dedicated) find no stream and end in error; its log."""
    env = dict(os.environ, BCI_STREAM_LOG_LEVEL=level, BCI_STREAM_RECORDINGS_DIR=str(tmp_path))
    proc = subprocess.Popen([str(Path(sys.executable).with_name("bci-stream")), "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env,
                            start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in proc.stdout), daemon=True)
    reader.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{listening_port(proc.pid)}", timeout=30) as client:
            assert client.get("/health").status_code == 200
            for worker in ("shared", "dedicated"):
                r = client.post("/decoders", json={"stream": {"name": unique("nolog")}, "model": "sim-mi-gru",
                                                   "options": {"worker": worker, "resolve_timeout": 1}})
                assert r.status_code == 201, r.text
                wait_status(client, r.json()["id"], lambda s: s["state"] == "error", 60, "no stream: error")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    reader.join(timeout=10)
    return "\n".join(lines)


def test_debug_shows_the_services_own_info_lines_and_critical_hides_its_workers_errors(tmp_path: Path) -> None:
    """Before: the workers logged at INFO whatever the level (``critical`` still printed their ERROR lines), and the
    API process's own lines below WARNING never appeared (``debug`` added nothing)."""
    log = serve_and_fail_two_decoders("debug", tmp_path)
    assert " api INFO shared worker 0 started (pid " in log, log[-3000:]
    assert re.search(r" shared-worker\[0\] ERROR decoder \w+: no LSL stream matched", log), log[-3000:]
    assert re.search(r" decoder\[\w+\] ERROR decoder \w+: no LSL stream matched", log), log[-3000:]
    log = serve_and_fail_two_decoders("critical", tmp_path)
    assert "ERROR" not in log and " INFO " not in log, log[-3000:]
