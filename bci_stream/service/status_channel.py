"""Status snapshots from a worker process to the supervisor: one pipe per worker, latest wins.

Each worker has its own one-way pipe, so a worker killed while writing (``kill -9``) can break only its
own channel, never another decoder's (a shared ``multiprocessing.Queue`` has a cross-process lock that
a killed writer can leave held, freezing every other worker's status). The hot loop never writes to
the pipe itself: :meth:`StatusSender.put` pickles the message (that is the snapshot: a copy taken at once,
several times cheaper than a deep copy) into a one-slot mailbox (an older unsent snapshot is replaced: only
the newest state matters) and a sender thread does the blocking write.

The supervisor's side: :func:`received_status` reads a message, also the refusal of a worker whose code is not the
service's (:mod:`~bci_stream.service.worker_entry`), and :func:`drain` waits until a pipe was read to its end.
"""

from __future__ import annotations

import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

from bci_stream.core.status import WorkerStatus
from bci_stream.service.worker_entry import EXIT_REFUSED, REFUSED


class StatusSender:
    """Worker side: ``put`` never blocks; a daemon thread sends the newest snapshot."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._slot: Any = None
        self._saved: Any = None  # a dedicated worker's latest state snapshot: its own slot, never in place of a status
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self.broken = False
        self._put_n = self._sent_n = 0  # snapshots put, and written to the pipe (see flush)
        self._sent = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, name="bci-stream-status", daemon=True)
        self._thread.start()

    def put(self, message: Any) -> None:
        """Send ``message`` (pickled now, as ``Connection.send`` would: later changes to it are not sent)."""
        payload = ForkingPickler.dumps(message)
        with self._lock:
            self._slot = payload
            self._put_n += 1
        self._wake.set()

    def put_saved(self, message: Any) -> None:
        """Send the state snapshot ``message`` (pickled now), before the next status; a newer one replaces it unsent."""
        payload = ForkingPickler.dumps(message)
        with self._lock:
            self._saved = payload
        self._wake.set()

    def flush(self, timeout: float) -> bool:
        """Wait (up to ``timeout`` s) until the last snapshot put was written to the pipe, where the supervisor reads
        it even if this process is killed the next instant; True when it was (or the pipe is broken: nobody reads)."""
        with self._lock:
            return self._sent.wait_for(lambda: self._sent_n >= self._put_n or self.broken, timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                saved, message, self._saved, self._slot, n = self._saved, self._slot, None, None, self._put_n
            try:
                for payload in (saved, message):
                    if payload is not None:
                        self.conn.send_bytes(payload)
            except (OSError, BrokenPipeError, ValueError):  # the supervisor is gone
                with self._lock:
                    self.broken = True
                    self._sent.notify_all()
                return
            with self._lock:
                self._sent_n = n
                self._sent.notify_all()
            if self._closing and self._slot is None:
                return

    def close(self, timeout: float = 2.0) -> None:
        """Send what is pending (the final status), then close the pipe."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        self.conn.close()


def received_status(snapshot: Any) -> tuple[WorkerStatus, int | None]:
    """What a worker sent as its status: the status, and the exit code it announced (a refusal) or None.

    A worker with other code than the service's refuses with builtins only, ``(REFUSED, why, exit_code, worker)``
    (:func:`~bci_stream.service.worker_entry.refuse`): its status (``error``, ``why``) is made here, with the
    service's own :class:`WorkerStatus`, whatever that class is like in the worker's code."""
    if isinstance(snapshot, tuple) and len(snapshot) >= 4 and snapshot[0] == REFUSED:
        why, code, worker = snapshot[1:4]
        worker = dict(worker) if isinstance(worker, dict) else {}
        pid = worker.get("pid") if isinstance(worker.get("pid"), int) else None
        code = code if isinstance(code, int) else EXIT_REFUSED
        return WorkerStatus(state="error", error=str(why), pid=pid, worker=worker), code
    if not isinstance(snapshot, WorkerStatus):  # a worker of other code, older than the refusal above: say so
        return WorkerStatus(state="error", error=f"worker sent a status this service cannot read "
                            f"({type(snapshot).__name__}): the bci-stream code on disk changed since serve started? "
                            "restart serve"), EXIT_REFUSED
    return snapshot, None


def drain(conn: Any, timeout: float = 1.0) -> None:
    """Wait (at most ``timeout``) until the supervisor's monitor thread has read everything pending on a status
    pipe."""
    deadline = time.monotonic() + timeout
    while conn is not None and time.monotonic() < deadline:
        try:
            if conn.closed or not conn.poll(0):
                return
        except (OSError, ValueError, EOFError):
            return
        time.sleep(0.005)
