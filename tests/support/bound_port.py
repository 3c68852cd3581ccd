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
