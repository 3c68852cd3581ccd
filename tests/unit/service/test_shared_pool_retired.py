"""A shared worker told to stop (no decoder left) that does not end is killed after the pool's grace period, then
reaped: it never lingers, holding its memory, until the service shuts down (found by an audit: a hung worker stayed
in state T with ~80 MB while new decoders got a new process for its index)."""

from __future__ import annotations

import multiprocessing
import time

from bci_stream.service.shared_pool import SharedPool, SharedWorkerHandle
from bci_stream.service.spawn import start_without_sigint


def retired_worker(pool: SharedPool, seconds: float) -> SharedWorkerHandle:
    """A real process in the pool's index 0 hosting decoder ``d1``, which ignores the pool's stop (it sleeps
    ``seconds``: a worker hung in native code); ``d1`` then leaves it, so the pool tells it to stop."""
    control, child = pool.ctx.Pipe()
    process = pool.ctx.Process(target=time.sleep, args=(seconds,), daemon=True)
    start_without_sigint(process)
    child.close()
    worker = SharedWorkerHandle(0, process, control, decoders={"d1"})
    pool.workers[0] = worker
    pool.remove("d1")
    assert pool.workers[0] is None and pool.retired == [worker]
    return worker


def reap_until_gone(pool: SharedPool, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while pool.retired and time.monotonic() < deadline:
        pool.reap()  # as the supervisor's monitor does, every poll interval
        time.sleep(0.05)


def test_a_retired_worker_that_does_not_end_is_killed_after_the_grace_period() -> None:
    pool = SharedPool(multiprocessing.get_context("spawn"), 1, "models", 0.25, None, start_without_sigint)
    pool.stop_grace = 0.5
    worker = retired_worker(pool, 600.0)
    try:
        reap_until_gone(pool)
        assert not pool.retired, "the hung retired worker was never killed"
        assert worker.process.exitcode == -9 and worker.killed and worker.control.closed
    finally:
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(5.0)


def test_a_retired_worker_that_ends_on_its_own_is_reaped_not_killed() -> None:
    pool = SharedPool(multiprocessing.get_context("spawn"), 1, "models", 0.25, None, start_without_sigint)
    pool.stop_grace = 600.0
    worker = retired_worker(pool, 0.2)
    try:
        reap_until_gone(pool)
        assert not pool.retired and worker.process.exitcode == 0 and not worker.killed
    finally:
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(5.0)
