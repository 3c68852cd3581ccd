"""A worker that fails says why in ``last_error`` (its traceback), and one decoder's failure to be placed on a shared
worker ends that decoder only. Real LSL on loopback, real worker processes (spawned), real shared memory: the
failures are real rings whose block is smaller than the layout they are announced with (what a ring.py of another
version makes of them), and a control message the shared worker cannot read."""

from __future__ import annotations

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.ring import NamedRingHandles, OutputRing, RingHandles
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, wait_for
from support.pacing import PacedPusher


def _start(sup: Supervisor, stream: str, worker: str):
    card = ModelRegistry(sup.models_dir).get("tiny-gru").card
    spec = DecoderSpec.model_validate({"stream": {"name": stream}, "model": "tiny-gru", "options": {"worker": worker}})
    return sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)


def _pusher(name: str, seed: int) -> PacedPusher:
    pusher = PacedPusher(new_outlet(name, f"{name}-src")[0], test_signal(int(60 * TINY_SFREQ), seed=seed), TINY_SFREQ)
    pusher.start()
    return pusher


def test_a_shared_decoder_that_cannot_be_placed_fails_alone_with_its_traceback(models_dir, monkeypatch):
    """B's ring cannot be mapped by the worker (a TypeError, not an OSError): B ends in ``error`` with the
    traceback; A, on the same worker, goes on decoding: same process, no restart, no gap, nothing lost."""
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=0, shared_workers=1)
    name, other = unique("placefail"), unique("placefail-b")
    pusher = _pusher(name, 5)
    try:
        a = _start(sup, name, "shared")
        wait_for(lambda: a.status.state == "running" and a.status.counters.samples_out > 0, 60, "A decoding")
        pid = a.status.worker["pid"]
        create_named = OutputRing.create_named

        def too_small(capacity: int, n_outputs: int) -> OutputRing:  # announced with 4x the rows its block holds
            ring = create_named(capacity, n_outputs)
            ring.handles = NamedRingHandles(ring.handles.name, 4 * capacity, ring.handles.width)
            return ring

        monkeypatch.setattr(OutputRing, "create_named", staticmethod(too_small))
        b = _start(sup, other, "shared")
        wait_for(lambda: b.status.state == "error" and b.last_error, 30, "B to fail")
        assert "worker crashed" in b.last_error and "buffer is too small" in b.last_error, b.last_error
        assert "Traceback" in b.last_error and b.restarts == 0
        before = a.status.counters.samples_out
        wait_for(lambda: a.status.counters.samples_out > before + 50, 30, "A to go on decoding")
        pusher.halt.set()
        pusher.join()
        wait_for(lambda: a.status.counters.samples_out == a.status.counters.samples_in, 30, "A to catch up")
        c = a.status.counters
        assert a.restarts == 0 and a.status.worker["pid"] == pid and a.status.state == "running"
        assert c.samples_in == c.samples_out and c.samples_lost == 0 and c.gaps == 0
        assert c.state_epoch == 0 and a.last_error is None
    finally:
        pusher.halt.set()
        sup.shutdown()


def test_a_dedicated_worker_that_dies_before_it_runs_leaves_its_traceback(models_dir, monkeypatch):
    """Its ring cannot be mapped (fewer rows than announced): the worker process dies at once; ``last_error`` has
    the exit code and the traceback (it had only 'worker process N exited with code 1')."""
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=0)
    create = OutputRing.create

    def too_small(ctx, capacity: int, n_outputs: int) -> OutputRing:
        ring = create(ctx, capacity, n_outputs)
        h = ring.handles
        ring.handles = RingHandles(h.data, h.head, 4 * capacity, h.width)
        return ring

    monkeypatch.setattr(OutputRing, "create", staticmethod(too_small))
    try:
        d = _start(sup, unique("deadearly"), "dedicated")
        wait_for(lambda: d.status.state == "error" and d.last_error and "Traceback" in d.last_error, 30,
                 "the crash with its traceback")
        assert "worker crashed" in d.last_error and "ValueError" in d.last_error, d.last_error
        assert d.status.error == d.last_error or "Traceback" in d.status.error
    finally:
        sup.shutdown()


def test_a_shared_worker_that_crashes_reports_its_traceback_to_every_decoder_and_they_restart(models_dir):
    """The worker itself crashes (a control message it cannot read): its decoder is not silently ``stopped`` (it
    was: code 0, no restart); it gets the traceback in ``last_error`` and is restarted on a new worker."""
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=1, restart_backoff=0.1, shared_workers=1)
    name = unique("sharedcrash")
    pusher = _pusher(name, 6)
    try:
        a = _start(sup, name, "shared")
        wait_for(lambda: a.status.state == "running" and a.status.counters.samples_out > 0, 60, "A decoding")
        pid = a.status.worker["pid"]
        worker = sup.pool.worker_of(a.id)
        with worker.send_lock:
            worker.control.send_bytes(b"not a pickle")
        wait_for(lambda: a.restarts == 1, 30, "A restarted")
        assert "worker crashed" in a.last_error and "UnpicklingError" in a.last_error, a.last_error
        assert f"shared worker pid {pid}" in a.last_error
        wait_for(lambda: a.status.state == "running" and a.status.worker["pid"] != pid, 60, "A running again")
    finally:
        pusher.halt.set()
        sup.shutdown()
