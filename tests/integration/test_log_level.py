"""The ``log_level`` setting reaches the service's own loggers, in the API process and in every worker, not only
uvicorn's: a real ``bci-stream serve``, its stderr read."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from support.bound_port import listening_port
from support.common import unique
from support.http import wait_status
from support.serve_process import serve_process

pytestmark = pytest.mark.timeout(240)


def serve_and_fail_two_decoders(level: str, tmp_path: Path) -> str:
    """A serve at ``level`` whose two decoders (shared, dedicated) find no stream and end in error; its log."""
    env = dict(os.environ, BCI_STREAM_LOG_LEVEL=level, BCI_STREAM_RECORDINGS_DIR=str(tmp_path))
    with serve_process(env) as (proc, lines):
        with httpx.Client(base_url=f"http://127.0.0.1:{listening_port(proc.pid)}", timeout=30) as client:
            assert client.get("/health").status_code == 200
            for worker in ("shared", "dedicated"):
                r = client.post("/decoders", json={"stream": {"name": unique("nolog")}, "model": "sim-mi-gru",
                                                   "options": {"worker": worker, "resolve_timeout": 1}})
                assert r.status_code == 201, r.text
                wait_status(client, r.json()["id"], lambda s: s["state"] == "error", 60, "no stream: error")
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
