"""Starting child processes (workers, the demo's simulator) so a terminal's Ctrl-C does not kill them first, and
the context the service starts its workers from."""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import signal
import threading
from multiprocessing import context as mp_context
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
    ctx = _ForkServerContext()
    ctx.set_forkserver_preload(list(WORKER_PRELOAD))
    return ctx


def _forkserver_popen(process_obj: Any) -> Any:
    """Start ``process_obj`` with :func:`_popen_class`."""
    return _popen_class()(process_obj)


@functools.cache
def _popen_class() -> type:
    """multiprocessing's fork-server ``Popen`` with a ``poll`` that two threads may call at once.

    A fork-server child's exit status is 4 bytes the fork server writes to the child's sentinel pipe. The standard
    ``poll`` reads them without a lock: when two threads poll a child that just ended (the supervisor's monitor
    judging the exit while another thread joins or checks ``is_alive``), one reads the status and the other reads
    end-of-file and sets the exit code to 255, multiprocessing's code for a lost fork server. A killed worker was then
    reported as "exited with code 255" instead of "signal 9". Here the wait stays outside the lock (a blocking
    ``join`` holds no one up) and the read happens once, under it. (Imported when first used: the module exists only
    where the fork server does.)

    A start checks the descriptors of its fork-server request (:func:`_handshake_descriptors`) and makes the request
    under one lock: two threads starting workers at once (``POST /decoders`` in the API's thread pool, a restart on
    the monitor thread) each passed the check, then opened their requests' descriptors together, and one ran out
    after connecting, which ended the fork server and every worker with it (review s53rev F1).
    """
    from multiprocessing import forkserver, popen_forkserver
    from multiprocessing.connection import wait

    handshake = threading.Lock()  # one check and request at a time (the fork server serves one at a time anyway)

    class Popen(popen_forkserver.Popen):
        def __init__(self, process_obj: Any) -> None:
            self._poll_lock = threading.Lock()
            with handshake:
                _handshake_descriptors()
                super().__init__(process_obj)

        def poll(self, flag: int = os.WNOHANG) -> int | None:
            if self.returncode is None:
                if not wait([self.sentinel], 0 if flag == os.WNOHANG else None):
                    return None
                with self._poll_lock:
                    if self.returncode is None:
                        try:
                            self.returncode = forkserver.read_signed(self.sentinel)
                        except (OSError, EOFError):  # the fork server itself ended: the status is lost with it
                            self.returncode = 255
            return self.returncode

    return Popen


def _handshake_descriptors() -> None:
    """Raise OSError (EMFILE) now when this process cannot open the descriptors of a fork-server request (a socket
    and two pipes; three pipes are opened and closed again). multiprocessing connects to the fork server first and
    makes its pipes after: out of descriptors there, the half-made request killed the fork server (EOFError in its
    loop), and every worker forked from it ended with it (audit s53cov)."""
    fds: list[int] = []
    try:
        for _ in range(3):
            fds.extend(os.pipe())
    finally:
        for fd in fds:
            os.close(fd)


if hasattr(mp_context, "ForkServerProcess"):  # POSIX: the fork-server classes exist (pickled by name: module level)

    class _ForkServerProcess(mp_context.ForkServerProcess):  # type: ignore[misc,name-defined]
        _start_method = "forkserver"
        _Popen = staticmethod(_forkserver_popen)

    class _ForkServerContext(mp_context.ForkServerContext):  # type: ignore[misc,name-defined]
        """The fork-server context whose processes use :func:`_popen_class`."""

        Process = _ForkServerProcess


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
