"""A shared worker that does not let a decoder leave in time is killed as hung only if it also stopped reporting.
A worker still sending its decoders' statuses is busy, not hung (a decoder whose start is under way leaves once that
start ends): killing it would crash and restart every other decoder it runs (found by review of the hung-worker kill).

Real processes and pipes; the decoder's handle is the few fields :meth:`SharedPool.leave` reads."""

from __future__ import annotations

import multiprocessing
import threading
import time
from types import SimpleNamespace

import pylsl

from bci_stream.service.shared_pool import SharedPool, SharedWorkerHandle
from bci_stream.service.spawn import start_without_sigint

TIMEOUT_S = 1.0


def pool_with_a_worker() -> tuple[SharedPool, SimpleNamespace, object]:
    """A pool whose worker (a real process that never answers: it sleeps) hosts decoders ``d1`` and ``d2``; the
    handle of ``d1`` (its command pipe's far end, returned too, is never closed: ``d1`` never leaves)."""
    ctx = multiprocessing.get_context("spawn")
    pool = SharedPool(ctx, 1, "models", 0.25, None, start_without_sigint)
    control, child = ctx.Pipe()
    process = ctx.Process(target=time.sleep, args=(600.0,), daemon=True)
    start_without_sigint(process)
    child.close()
    pool.workers[0] = SharedWorkerHandle(0, process, control, decoders={"d1", "d2"})
    cmd, far = ctx.Pipe()
    handle = SimpleNamespace(id="d1", cmd_conn=cmd, request_lock=threading.Lock(), process=process, slot_exit=None,
                             worker={"kind": "shared", "index": 0}, last_error=None, exit_code=None)
    return pool, handle, far


def test_a_worker_that_reports_while_its_decoder_does_not_leave_is_not_killed() -> None:
    pool, handle, far = pool_with_a_worker()
    reporting = threading.Event()

    def report() -> None:  # the monitor reading the other decoder's statuses, taken now
        while not reporting.is_set():
            pool.heard(handle.process, pylsl.local_clock())
            time.sleep(0.05)

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        pool.leave(handle, TIMEOUT_S)
        assert handle.process.is_alive(), "a worker that still reports was killed as hung"
        assert handle.exit_code == 0 and handle.last_error is None
        assert pool.workers[0] is not None and pool.workers[0].decoders == {"d2"}  # d2 goes on there
    finally:
        reporting.set()
        thread.join(5.0)
        handle.process.kill()
        handle.process.join(5.0)
        far.close()


def test_a_worker_silent_while_its_decoder_does_not_leave_is_killed_as_hung() -> None:
    pool, handle, far = pool_with_a_worker()
    pool.heard(handle.process, pylsl.local_clock() - 10.0)  # its last status: before the stop was asked
    try:
        pool.leave(handle, TIMEOUT_S)
        assert not handle.process.is_alive() and handle.exit_code == -9
        assert f"pid {handle.process.pid}" in handle.last_error and "hung" in handle.last_error
    finally:
        if handle.process.is_alive():
            handle.process.kill()
            handle.process.join(5.0)
        far.close()


def test_a_decoder_whose_worker_was_killed_keeps_the_kills_exit_code_when_it_leaves() -> None:
    """A shared decoder left in ``error`` after a ``kill -9`` of its worker (its restarts used up): its DELETE
    answered ``exit_code`` 0 beside a ``last_error`` naming the -9 (audit s62multi F4). Its worker is dead: the code
    the monitor judged stays; without one yet, the process's own."""
    for judged in (-9, None):
        pool, handle, far = pool_with_a_worker()
        try:
            handle.process.kill()
            handle.process.join(5.0)
            handle.exit_code = judged
            pool.leave(handle, TIMEOUT_S)
            assert handle.exit_code == -9, judged
        finally:
            far.close()
