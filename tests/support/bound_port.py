"""The port a ``bci-stream serve --port 0`` listens on, read from its log.

A test that picks a free port itself (bind, close, pass ``--port N``) races every other process of the suite for it:
another test's server may take it first (the service then exits 2: port in use) or, worse, answer the test's requests.
With ``--port 0`` the service binds any free port and uvicorn names it in its ``Uvicorn running on`` line.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable

UVICORN_LINE = re.compile(r"Uvicorn running on https?://\S+:(\d+)")


def wait_bound_port(read_log: Callable[[], str], proc: subprocess.Popen, timeout: float = 120.0) -> int:
    """Wait for ``proc``'s ``Uvicorn running on`` line (``read_log`` returns its output so far); its port."""
    deadline = time.monotonic() + timeout
    while (m := UVICORN_LINE.search(read_log())) is None:
        assert proc.poll() is None, f"exited ({proc.returncode}) before it listened:\n{read_log()[-3000:]}"
        assert time.monotonic() < deadline, f"not listening after {timeout:g} s:\n{read_log()[-3000:]}"
        time.sleep(0.1)
    return int(m.group(1))


def listening_ports(pid: int) -> list[int]:
    """The TCP ports process ``pid`` listens on now (from its socket inodes and ``/proc/net/tcp``)."""
    import os
    from pathlib import Path

    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                ports.append(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def listening_port(pid: int, timeout: float = 120.0) -> int:
    """The TCP port process ``pid`` listens on: for a serve whose log level hides uvicorn's ``Uvicorn running on``
    line (a serve that listens on one port only: with the Ray backend it listens for its actors too)."""
    deadline = time.monotonic() + timeout
    while not (ports := listening_ports(pid)):
        assert time.monotonic() < deadline, f"process {pid} listens on no TCP port after {timeout:g} s"
        time.sleep(0.1)
    return ports[0]
