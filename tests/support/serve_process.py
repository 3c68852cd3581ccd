"""A real ``bci-stream serve`` in a process of its own, its stdout and stderr read together (for tests of its log)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from support.common import REPO


@contextmanager
def serve_process(env: dict[str, str], *args: str,
                  preexec_fn: Callable[[], None] | None = None) -> Iterator[tuple[subprocess.Popen, list[str]]]:
    """``bci-stream serve --port 0 *args`` with ``env``: the process and its log lines so far (all of them once the
    block ends: it is stopped with SIGTERM, killed if it does not end within 60 s). ``preexec_fn``: run in the child
    before ``serve`` (e.g. a resource limit)."""
    proc = subprocess.Popen([str(Path(sys.executable).with_name("bci-stream")), "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env,
                            start_new_session=True, preexec_fn=preexec_fn)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in proc.stdout), daemon=True)
    reader.start()
    try:
        yield proc, lines
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        reader.join(timeout=10)
