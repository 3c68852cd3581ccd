"""The real Supervisor with no monitor thread, for tests that judge its workers' ends and restarts themselves."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bci_stream.service.supervisor import Supervisor


@contextmanager
def idle_supervisor(models_dir: Path, max_restarts: int) -> Iterator[Supervisor]:
    """A Supervisor of ``models_dir`` (restart backoff 5 s) whose monitor thread is stopped: nothing but the test
    changes its decoders' handles. At the end its handles are dropped (none has a worker to be stopped by a command
    pipe) and it is shut down."""
    sup = Supervisor(str(models_dir), max_restarts=max_restarts, restart_backoff=5.0)
    sup._closing.set()
    sup._monitor.join(5.0)
    try:
        yield sup
    finally:
        with sup._lock:
            sup._handles.clear()
        sup.shutdown(2.0)
