"""`bci-stream serve --backend ray` when ``ray.init`` itself fails after the address took a TCP connection: one
``Error:`` line naming the address and the reason, exit 2, no traceback. Two real cases through the real console
script: a plain TCP listener that is not a Ray GCS (``ray.init`` retries such a port for many minutes, ignoring
Ctrl-C: bounded by ``BCI_STREAM_RAY_START_TIMEOUT``), and an address Ray itself refuses (Ray's own reason)."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.common import REPO

BCI_STREAM = str(Path(sys.executable).parent / "bci-stream")
# Ray's own log lines (C++: "[2026-12-01 11:40:21,053 W 2270 2270] ...", gRPC: "E1201 11:41:37.839 ...", Python:
# "2026-12-01 11:52:54,449\tWARNING ..."): Ray may print them while it tries; none is a traceback
RAY_LOG = re.compile(r"^(\[\d{4}-\d\d-\d\d |[EWI]\d{4} \d\d:|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s)")

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="Ray is not installed (pip install '.[cluster]')")


@pytest.fixture()
def not_ray() -> Iterator[int]:
    """The port of a TCP listener (all interfaces: Ray dials this host's node IP for 127.0.0.1) that accepts and
    holds connections and says nothing: not a Ray GCS."""
    server = socket.create_server(("0.0.0.0", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # closed
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for conn in held:
            conn.close()


def _serve(address: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BCI_STREAM_", "RAY_ADDRESS"))}
    env["BCI_STREAM_RAY_START_TIMEOUT"] = "2"
    return subprocess.run([BCI_STREAM, "serve", "--port", "0", "--backend", "ray", "--ray-address", address],
                          capture_output=True, text=True, timeout=90, env=env, cwd=REPO)


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one ``Error:`` line of ``proc`` (its last line; any other line is Ray's own log), after exit code 2."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out, out
    lines = proc.stderr.splitlines()
    assert lines and lines[-1].startswith("Error: "), out
    assert [line for line in lines[:-1] if not RAY_LOG.match(line)] == [], out
    return lines[-1]


def test_a_tcp_listener_that_is_not_ray_is_refused_in_the_start_timeout(not_ray: int) -> None:
    address = f"127.0.0.1:{not_ray}"
    line = _error_line(_serve(address))
    assert line.startswith(f"Error: backend 'ray': ray.init did not connect to ray_address={address!r} within 2 s "
                           "(ray_start_timeout, BCI_STREAM_RAY_START_TIMEOUT): "), line
    assert "does not answer as a Ray cluster's GCS" in line


def test_an_address_ray_refuses_gives_rays_own_reason() -> None:
    line = _error_line(_serve("127.0.0.1"))  # no port: passes the TCP check (nothing to dial), Ray refuses it
    assert line == ("Error: backend 'ray': ray.init could not connect to ray_address='127.0.0.1': ValueError: "
                    "Invalid address format: 127.0.0.1"), line
