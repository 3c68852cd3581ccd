"""Restarts over a lab's day: a crash after a worker generation ran healthy for ``restart_reset_s`` is a first
crash again (first backoff, the ``max_restarts`` budget whole), crashes in quick succession still end in ``error``,
and a restart waiting for its backoff shows ``starting`` with ``restart_in_s`` (``error`` is final: the WebSocket's
failed-for-good test, the metrics state gauge). Real worker processes killed with SIGKILL, real LSL on loopback."""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest

from bci_stream.api.routers.decoders import decoder_status
from bci_stream.api.routers.metrics import SupervisorCollector
from bci_stream.api.routers.outputs import failed_since
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, wait_for
from support.pacing import PacedPusher


def _start(sup: Supervisor, stream: str, worker: str):
    card = ModelRegistry(sup.models_dir).get("tiny-gru").card
    spec = DecoderSpec.model_validate({"stream": {"name": stream}, "model": "tiny-gru", "options": {"worker": worker}})
    return sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)


def _pusher(name: str, seed: int) -> PacedPusher:
    pusher = PacedPusher(new_outlet(name, f"{name}-src")[0], test_signal(int(120 * TINY_SFREQ), seed=seed), TINY_SFREQ)
    pusher.start()
    return pusher


def _worker_pid(handle) -> int:
    return handle.status.worker["pid"] if handle.shared else handle.status.pid


def _state_gauge(sup: Supervisor, decoder_id: str) -> dict[str, float]:
    family = next(f for f in SupervisorCollector(sup).collect() if f.name == "bci_stream_decoder_state")
    return {s.labels["state"]: s.value for s in family.samples if s.labels["decoder_id"] == decoder_id}


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_a_crash_after_a_healthy_run_is_restarted_as_a_first_crash(models_dir, worker, caplog):
    """max_restarts 1: three kills, each after the generation ran for restart_reset_s (1 s), are all restarted, each
    after the first backoff (0.2 s); ``restarts`` counts all three. (Before, the second kill was final.)"""
    caplog.set_level(logging.ERROR, logger="bci_stream.supervisor")
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=1, restart_backoff=0.2, restart_reset_s=1.0,
                     shared_workers=1)
    name = unique("healthyrun")
    pusher = _pusher(name, 11)
    try:
        h = _start(sup, name, worker)
        for k in (1, 2, 3):
            wait_for(lambda: h.status.state == "running" and h.running_since is not None
                     and time.monotonic() - h.running_since >= 1.0, 60, f"generation {k} to run for 1 s")
            generation = h.generation
            os.kill(_worker_pid(h), signal.SIGKILL)
            wait_for(lambda: h.generation > generation, 30, f"the restart after kill {k}")
            assert h.restarts == k and h.recent_restarts == 1
        wait_for(lambda: h.status.state == "running", 60, "the fourth generation to run")
        scheduled = [r.getMessage() for r in caplog.records if "restart 1/1 in 0.2 s" in r.getMessage()]
        assert len(scheduled) == 3, [r.getMessage() for r in caplog.records]
        assert decoder_status(h).restarts == 3
    finally:
        pusher.halt.set()
        sup.shutdown()


def test_quick_crashes_end_in_error_and_a_pending_restart_reads_starting(models_dir):
    """max_restarts 2, restart_reset_s 60: a worker killed as soon as it runs, three times. While each of the first
    two restarts waits for its backoff the decoder is ``starting`` with ``restart_in_s`` and ``last_error`` (not
    ``error``: the WebSocket would take it for final); the third kill is final: ``error``, no restart pending."""
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=2, restart_backoff=1.0, restart_reset_s=60.0)
    name = unique("quickcrash")
    pusher = _pusher(name, 12)
    try:
        h = _start(sup, name, "dedicated")
        for k in (1, 2):
            wait_for(lambda: h.status.state == "running", 60, f"generation {k} to run")
            pid = _worker_pid(h)
            os.kill(pid, signal.SIGKILL)

            def pending():
                with sup._lock:  # the status and restart_at of one moment (the monitor sets both under this lock)
                    if h.restart_at is None or h.status.state != "starting":
                        return None
                    return decoder_status(h), failed_since(h, None, time.monotonic())

            view, since = wait_for(pending, 30, f"the restart after kill {k} to be pending")
            gauge = _state_gauge(sup, h.id)  # (takes the lock itself) the pending restart is 1 s or 2 s away
            assert view.state == "starting" and view.restarts == k and 0.0 <= view.restart_in_s <= 2.0 ** (k - 1)
            assert view.last_error == f"worker process {pid} exited with code -9 (signal 9)"
            assert gauge["starting"] == 1.0 and gauge["error"] == 0.0
            assert since is None  # not failed for good: the WebSocket stays open
        wait_for(lambda: h.status.state == "running", 60, "generation 3 to run")
        pid = _worker_pid(h)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: h.exit_code is not None and h.status.state == "error", 30, "the final error")
        time.sleep(2.5)  # longer than the next backoff would be: no restart may come
        view = decoder_status(h)
        assert view.state == "error" and view.restarts == 2 and view.restart_in_s is None and view.pid == pid
        assert view.last_error.startswith(f"worker process {pid} exited with code -9 (signal 9); not restarted: its "
                                          "restarts are used up (2/2 since it last ran healthy, "), view.last_error
        assert failed_since(h, None, time.monotonic()) is not None and _state_gauge(sup, h.id)["error"] == 1.0
    finally:
        pusher.halt.set()
        sup.shutdown()

