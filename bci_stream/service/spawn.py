"""Starting child processes (workers, the demo's simulator) so a terminal's Ctrl-C does not kill them first."""

from __future__ import annotations

import signal
from typing import Any


def start_without_sigint(process: Any) -> None:
    """``process.start()`` with SIGINT blocked in the child from its first instruction (the mask is inherited).

    Ctrl-C in a terminal signals the whole process group: a worker (or the demo's simulator) would die on a
    KeyboardInterrupt with a traceback, and its LSL streams would vanish under their peers, before its parent
    stops it in order. Blocking SIGINT in this thread only while it forks covers the child's start-up too.
    """
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX: nothing to block
        process.start()
        return
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()  # its first start unblocks SIGINT in this thread (after its own fork)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
