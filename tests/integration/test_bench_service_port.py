"""latency_bench's service under test on a port another process took between the pick and the bind: the service
exits (port in use, exit 2) and the bench starts it again on another free port, instead of failing the run."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from latency_bench import procs
from support.common import REPO


def test_a_port_taken_before_the_service_binds_it_is_picked_again(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        picks = iter([taken])
        real = procs.free_port
        monkeypatch.setattr(procs, "free_port", lambda: next(picks, None) or real())
        service = procs.Service(REPO / "models", tmp_path / "service.log")
        try:
            service.wait_ready(timeout=120)
            assert service.port != taken
            assert service.client.get("/models").status_code == 200
        finally:
            service.close()
    assert service.proc.proc.returncode is not None
