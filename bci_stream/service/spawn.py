"""Starting child processes (workers, the demo's simulator) so a terminal's Ctrl-C does not kill them first, and
the context the service starts its workers from."""

from __future__ import annotations

import multiprocessing as mp
import signal
from typing import Any

#: Third-party modules every decoder worker imports (~0.3 s of CPU): a fork server imports them once, and each
#: worker is forked from it with them loaded. bci-stream's own modules are not among them: a worker imports those
#: from disk, as a spawned one does, so its code stamp check (:mod:`.code_stamp`) still sees the code it runs.
WORKER_PRELOAD = ("numpy", "pydantic", "onnxruntime", "pylsl")


def worker_context() -> Any:
    """The multiprocessing context of the service's local workers: ``forkserver`` where the platform has it (a
    worker starts in about half the CPU time of a spawned one: a restart after a crash is back sooner), else
    ``spawn``. Either way a worker is a fresh process of its own (no thread, lock or socket of the API process is
    copied into it); the fork server starts with the first worker, with the environment of the process then (a
    worker's arguments carry everything else it needs; its working directory and ``sys.path`` are the parent's at
    each start, as with spawn)."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(WORKER_PRELOAD))
    return ctx


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
