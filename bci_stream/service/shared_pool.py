"""The supervisor's pool of shared workers: placement of shared decoders, least loaded first.

A decoder with ``options.worker = "shared"`` goes to one of ``size`` shared worker processes (default: the
number of cores): the one hosting the fewest decoders, a new process when the least loaded place is empty.
Each decoder keeps its own command and status pipes (sent to the worker in :class:`AddStream`), so
commands and status work as for a dedicated decoder; the worker's control pipe carries only
:class:`StreamEnded` and :class:`SavedState` back. A worker left with no decoder is stopped, and killed if it has
not ended ``stop_grace`` seconds later. A worker that does not let a decoder leave within the stop's timeout is hung
(a deadlock in native code, a stopped process): it is killed (SIGKILL) and its other decoders are restarted as after
a crash of their worker; the stopped decoder's ``exit_code`` is the kill's (-9) and its ``last_error`` says why.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bci_stream.core.status import WorkerStatus
from bci_stream.service.pool_messages import AddStream, StopWorker
from bci_stream.service.worker_entry import EXIT_REFUSED, shared_worker_main

log = logging.getLogger("bci_stream.supervisor")


def refused_without_reason(handle: Any) -> str | None:
    """The error of shared decoder ``handle`` whose worker process ended with :data:`EXIT_REFUSED` without sending
    it a refusal (a worker of other code that could not read a message of the service's:
    :func:`~bci_stream.service.worker_entry.refuse_streams`), else None. Its status would otherwise say ``error``
    with no reason; a refusal that reached the decoder set its ``slot_exit`` and says its own reason."""
    if not handle.shared or handle.slot_exit is not None or handle.exit_code != EXIT_REFUSED:
        return None
    index = (handle.worker or {}).get("index")
    return (f"its shared worker (index {index}) refused it (exit code {EXIT_REFUSED}) without a reason it could "
            "send")


@dataclass
class SharedWorkerHandle:
    """One shared worker process: its control pipe and the decoders it hosts."""

    index: int
    process: Any
    control: Any
    decoders: set[str] = field(default_factory=set)
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    retired_at: float | None = None  # time.monotonic() when it was told to stop (no decoder left)
    killed: bool = False  # SIGKILL sent (hung)

    def describe(self) -> dict[str, Any]:
        return {"kind": "shared", "index": self.index, "pid": self.process.pid, "streams": len(self.decoders)}


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: systemd's ``CPUAffinity=``, compose's ``cpuset``,
    ``taskset``), the default number of shared workers. Before, ``os.cpu_count()``: on a 16-core node with the unit's
    ``CPUAffinity=1-3``, 16 shared workers competed for 3 cores."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no affinity on this platform
        return os.cpu_count() or 1


#: Seconds a shared worker told to stop (no decoder left) has to end on its own before it is killed (SIGKILL).
STOP_GRACE_S = 5.0
#: Seconds to wait for a killed worker to end (SIGKILL is not instant: a process in uninterruptible sleep).
KILL_JOIN_S = 2.0
#: Workers killed as hung whose reason is kept for their other decoders' ``last_error``.
HUNG_KEPT = 16


class SharedPool:
    """Shared worker processes of one supervisor (see the module docstring).

    Parameters
    ----------
    ctx
        The multiprocessing context.
    size
        Most shared worker processes (None: :func:`usable_cpus`).
    models_dir, status_interval, recordings_dir
        Handed to each worker.
    start_process
        ``start_process(process)`` (the supervisor's start without SIGINT).
    code_stamp
        The service's code stamp, handed to each worker (None: the environment's,
        :func:`~bci_stream.service.code_stamp.code_changed`).
    stop_grace
        Seconds a worker told to stop (no decoder left) has to end before it is killed (:meth:`reap`).
    log_level
        The service's log level, handed to each worker (None: the environment's, else INFO).
    """

    def __init__(self, ctx: Any, size: int | None, models_dir: str, status_interval: float,
                 recordings_dir: str | None, start_process: Any, code_stamp: str | None = None,
                 stop_grace: float = STOP_GRACE_S, log_level: str | None = None) -> None:
        size = usable_cpus() if size is None else size
        if size < 1:
            raise ValueError(f"shared_workers must be >= 1, got {size}")
        self.ctx = ctx
        self.models_dir, self.status_interval, self.recordings_dir = models_dir, status_interval, recordings_dir
        self.start_process, self.code_stamp, self.log_level = start_process, code_stamp, log_level
        self.workers: list[SharedWorkerHandle | None] = [None] * size
        self.retired: list[SharedWorkerHandle] = []  # stopped, not yet reaped
        self.stop_grace = stop_grace
        #: process of a worker killed as hung -> why (for its other decoders' last_error); the latest few only
        self.hung: dict[Any, str] = {}
        #: worker process -> ``local_clock()`` when it took its latest status (of any decoder it hosts): not hung
        self.heard_at: dict[Any, float] = {}
        self._lock = threading.Lock()

    def _spawn(self, index: int) -> SharedWorkerHandle:
        control, child = self.ctx.Pipe()
        process = self.ctx.Process(target=shared_worker_main,
                                   args=(index, child, self.models_dir, self.status_interval, self.recordings_dir,
                                         self.code_stamp, self.log_level),
                                   name=f"bci-stream-shared-{index}", daemon=True)
        self.start_process(process)
        child.close()
        log.info("shared worker %d started (pid %d)", index, process.pid)
        return SharedWorkerHandle(index, process, control)

    def add(self, handle: Any, restore: Any = None) -> tuple[Any, Any, Any, dict[str, Any]]:
        """Place decoder ``handle`` (its ``id``, ``generation``, ``spec``, ``ring``) on the least loaded worker.

        Returns ``(worker process, command pipe, status pipe, worker description)``.
        """
        cmd, cmd_child = self.ctx.Pipe()
        status_r, status_w = self.ctx.Pipe(duplex=False)
        with self._lock:
            for w in self.workers:
                w and w.decoders.discard(handle.id)
            loads = [len(w.decoders) if w is not None and w.process.is_alive() else 0 for w in self.workers]
            index = loads.index(min(loads))
            worker = self.workers[index]
            if worker is None or not worker.process.is_alive():
                if worker is not None:  # died: its decoders are being re-added, here or elsewhere
                    worker.process.join(0)
                    worker.control.close()
                worker = self.workers[index] = self._spawn(index)
            worker.decoders.add(handle.id)
            ring = None if handle.ring is None else handle.ring.handles
            message = AddStream(handle.id, handle.generation, handle.spec.model_dump_json(), cmd_child, status_w,
                                ring, restore)
            try:
                with worker.send_lock:
                    worker.control.send(message)
            except (OSError, BrokenPipeError, ValueError):  # it died just now: a new one in its place
                worker.control.close()
                worker = self.workers[index] = self._spawn(index)
                worker.decoders.add(handle.id)
                with worker.send_lock:
                    worker.control.send(message)
            described = worker.describe()
        cmd_child.close()
        status_w.close()
        return worker.process, cmd, status_r, described

    def place(self, handle: Any) -> None:
        """(Re)start shared decoder ``handle`` on the least loaded worker, with its last state after a crash;
        its process, pipes and a fresh status (a new generation's counters start from zero)."""
        handle.generation += 1
        restore = handle.saved if handle.generation > 1 else None
        process, cmd, status_r, described = self.add(handle, restore)
        old_status = handle.status_conn
        handle.process, handle.cmd_conn, handle.status_conn = process, cmd, status_r
        if old_status is not None:
            old_status.close()
        handle.exit_code, handle.restart_at, handle.slot_exit = None, None, None
        handle.worker = described
        handle.status = handle.new_generation_status(WorkerStatus(
            pid=process.pid, error=handle.status.error, model=handle.status.model, worker=described))

    def remove(self, decoder_id: str) -> None:
        """Decoder ``decoder_id`` left its worker; a worker left with none is stopped."""
        with self._lock:
            for i, w in enumerate(self.workers):
                if w is None or decoder_id not in w.decoders:
                    continue
                w.decoders.discard(decoder_id)
                if not w.decoders:
                    self._stop(w)
                    w.retired_at = time.monotonic()
                    self.workers[i] = None
                    self.retired.append(w)

    def reap(self) -> None:
        """Join the stopped workers that have ended (no zombies); kill (SIGKILL) one that has not ended
        :attr:`stop_grace` seconds after it was told to stop (hung: it would hold its memory until shutdown). Forget
        when ended workers were last heard from: each ``Process`` kept held two pipe descriptors of this process
        (before, up to 64 of them, ~130 descriptors, on a service whose decoders come and go: leak audit s48 F2).
        Called from the monitor thread, as :meth:`heard`."""
        now = time.monotonic()
        for ended in [p for p in self.heard_at if not p.is_alive()]:
            self.heard_at.pop(ended, None)
        with self._lock:
            for w in list(self.retired):
                w.process.join(0)
                late = w.retired_at is not None and now - w.retired_at >= self.stop_grace
                if w.process.is_alive() and late and not w.killed:
                    log.error("shared worker %d (pid %d) did not end within %.1f s of its stop (no decoder left): "
                              "killed (SIGKILL)", w.index, w.process.pid, self.stop_grace)
                    w.killed = True
                    w.process.kill()
                    w.process.join(0)
                if not w.process.is_alive():
                    w.control.close()
                    self.retired.remove(w)

    def _stop(self, w: SharedWorkerHandle, timeout: float = 0.0) -> None:
        try:
            with w.send_lock:
                w.control.send(StopWorker())
        except (OSError, BrokenPipeError, ValueError):
            pass
        if timeout:
            w.process.join(timeout)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(2.0)

    def controls(self) -> dict[Any, SharedWorkerHandle]:
        """Control pipe -> worker, of every live worker (the supervisor's monitor waits on them)."""
        with self._lock:
            return {w.control: w for w in self.workers if w is not None and not w.control.closed}

    def worker_of(self, decoder_id: str) -> SharedWorkerHandle | None:
        with self._lock:
            return next((w for w in self.workers if w is not None and decoder_id in w.decoders), None)

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._lock:
            workers = [w for w in self.workers if w is not None] + self.retired
            self.workers, self.retired = [None] * len(self.workers), []
        for w in workers:
            self._stop(w, timeout)
            w.control.close()

    def heard(self, process: Any, taken: float) -> None:
        """Worker ``process`` took a status of one of its decoders at ``taken`` (``local_clock()``; the supervisor's
        monitor calls this for each status it reads: a status read late, sent before the worker hung, is no sign)."""
        self.heard_at[process] = max(taken, self.heard_at.get(process, -math.inf))  # ended ones: forgotten by reap

    def leave(self, handle: Any, timeout: float) -> None:
        """Stop shared decoder ``handle``: Stop on its command pipe, then wait until the worker closes that pipe
        (its stream closed and its final status sent), at most ``timeout``; the other streams go on.

        A worker that did not let it go in that time is killed as hung only if it sent no status meanwhile (of
        any decoder) and ``timeout`` spans two status intervals. One that did is busy, not hung: a decoder still
        starting (its inlet resolving, its model loading) leaves once its start ends, and the worker's other
        decoders go on."""
        from bci_stream.core.messages import Stop

        import pylsl

        conn = handle.cmd_conn
        asked = pylsl.local_clock()
        with handle.request_lock:
            try:
                conn.send(Stop())
                deadline = time.monotonic() + timeout
                while (left := deadline - time.monotonic()) > 0 and conn.poll(left):
                    conn.recv()  # a late reply; EOFError once the worker closed the pipe
            except (OSError, EOFError, BrokenPipeError):
                gone = True  # the worker closed the decoder's pipe: it left
            else:
                gone = False  # no word in `timeout` s
            conn.close()
        silent = self.heard_at.get(handle.process, -math.inf) < asked and timeout >= 2 * self.status_interval
        if not handle.process.is_alive():  # its worker's end, as the monitor judged it (a crash's -9 kept: before, 0
            if handle.exit_code is None:  # for a decoder in error after its restarts: audit s62multi F4)
                handle.exit_code = handle.process.exitcode if handle.slot_exit is None else handle.slot_exit
        elif gone:
            handle.exit_code = 0 if handle.slot_exit is None else handle.slot_exit
        elif not silent:
            log.warning("decoder %s did not leave its shared worker (pid %s) within %.1f s, which is still reporting "
                        "(a start under way ends first): it leaves when that ends", handle.id, handle.process.pid,
                        timeout)
            handle.exit_code = 0 if handle.slot_exit is None else handle.slot_exit
        else:
            handle.exit_code = self._kill_hung(handle, timeout)
        self.remove(handle.id)

    def _kill_hung(self, handle: Any, timeout: float) -> int:
        """The worker of shared decoder ``handle`` did not let it leave within ``timeout`` s: it is hung (a deadlock
        in native code, a stopped process). Kill it (SIGKILL) and join it; its other decoders end with it and are
        restarted as after a crash of their worker (the monitor sees it dead: placed again, from their last state
        snapshot, the gap counted). ``handle.last_error`` says so; returns the exit code (-9)."""
        process = handle.process
        with self._lock:
            w = self._worker_of(process)
            others = sorted(w.decoders - {handle.id}) if w is not None else []
        index = (handle.worker or {}).get("index")
        why = (f"its shared worker (index {index}, pid {process.pid}) did not let decoder {handle.id} leave within "
               f"{timeout:.1f} s (hung): killed (SIGKILL)")
        handle.last_error = f"decoder {handle.id}: {why}"
        log.error("%s%s", handle.last_error,
                  f"; its other decoders ({', '.join(others)}) are restarted as after a crash" if others else "")
        self.kill(process, why, KILL_JOIN_S)
        return process.exitcode if process.exitcode is not None else -signal.SIGKILL

    def kill(self, process: Any, why: str, wait: float = 0.0) -> None:
        """Kill (SIGKILL) shared worker ``process``, hung for the reason ``why`` (its decoders' ``last_error`` gives
        it after their worker's exit, :meth:`killed_note`), and join it for at most ``wait`` seconds; its decoders are
        restarted as after a crash of their worker once the monitor sees it dead."""
        with self._lock:
            w = self._worker_of(process)
            self.hung[process] = why
            for old in list(self.hung)[:-HUNG_KEPT]:
                del self.hung[old]
        process.kill()
        process.join(wait)
        if w is not None:
            w.killed = True

    def _worker_of(self, process: Any) -> SharedWorkerHandle | None:
        """The handle (live or retired) of worker ``process``, or None; call with :attr:`_lock` held."""
        return next((w for w in self.workers + self.retired if w is not None and w.process is process), None)

    def killed_note(self, process: Any, said: str) -> str:
        """``said`` (the exit message of worker ``process``, ended) with why it was killed, if it was killed as hung."""
        with self._lock:
            why = self.hung.get(process)
        return said if why is None else f"{said}: {why}"

    def receive(self, conn: Any) -> Any:
        """One message from a worker's control pipe, or None (a dead worker's pipe is closed)."""
        try:
            return conn.recv()
        except Exception:  # noqa: BLE001 - closed (also by a stop while it was read), or a message of other code
            conn.close()
            return None
