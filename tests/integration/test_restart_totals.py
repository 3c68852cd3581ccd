"""After a kill -9 of a decoder's worker (dedicated or shared), ``totals`` sums the counters of every worker
generation: what the first generation decoded is still reported in the status, the DELETE answer and /metrics
(whose counters do not go back); the samples missed during the restart are counted once (``samples_lost``).
Real LSL on loopback, real worker processes."""

from __future__ import annotations

import os
import signal

import pytest

from bci_stream.api.routers.metrics import SupervisorCollector
from bci_stream.api.views import decoder_status
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, wait_for
from support.pacing import PacedPusher


def exported(sup: Supervisor, name: str, decoder_id: str) -> float:
    """The value /metrics exports for ``bci_stream_<name>`` of one decoder."""
    for family in SupervisorCollector(sup).collect():
        for sample in family.samples:
            if sample.name in (f"bci_stream_{name}", f"bci_stream_{name}_total") and \
                    sample.labels["decoder_id"] == decoder_id:
                return sample.value
    raise AssertionError(f"bci_stream_{name} not exported for {decoder_id}")


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_totals_keep_the_counts_of_a_killed_generation(models_dir, worker):
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=3, restart_backoff=0.1, shared_workers=1)
    name = unique("totals")
    outlet = new_outlet(name, f"{name}-src")[0]
    pusher = PacedPusher(outlet, test_signal(int(120 * TINY_SFREQ), seed=3), TINY_SFREQ)
    pusher.start()
    card = ModelRegistry(models_dir).get("tiny-gru").card
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru", "options": {"worker": worker}})
    try:
        handle = sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)
        wait_for(lambda: handle.status.state == "running" and handle.status.counters.samples_out > 500, 60,
                 "the first generation to decode")
        first = handle.generation
        before = handle.status.counters.samples_in  # the first generation's, as of a snapshot before the kill
        assert handle.totals().samples_in == before
        os.kill(handle.status.worker["pid"] if handle.shared else handle.status.pid, signal.SIGKILL)
        wait_for(lambda: handle.generation == first + 1 and handle.status.state == "running"
                 and handle.status.counters.samples_out > 0, 60, "the next generation to decode")
        ended = handle.counted.ended  # the first generation's last snapshot
        assert ended.samples_in >= before > 0
        with sup._lock:  # one snapshot's counters and totals (the monitor takes a snapshot under this lock)
            now, totals = handle.status.counters, handle.totals()
        assert totals.samples_in >= now.samples_in + before
        assert totals.samples_in == now.samples_in + ended.samples_in
        assert totals.samples_in == totals.samples_out + totals.samples_rejected  # a NaN-free stream: rejected 0
        assert totals.samples_lost == now.samples_lost + ended.samples_lost  # the restart's gap once, not twice
        assert totals.state_epoch == now.state_epoch  # carried across generations, not summed
        assert exported(sup, "samples_in", handle.id) >= before + now.samples_in  # /metrics did not go back
        view = decoder_status(handle).model_dump()
        assert view["totals"]["samples_in"] >= view["counters"]["samples_in"] + before
        final = sup.stop(handle.id)
        deleted = decoder_status(final).model_dump()  # what DELETE /decoders/{id} answers
        assert deleted["state"] == "stopped"
        assert deleted["totals"]["samples_in"] == deleted["counters"]["samples_in"] + ended.samples_in
        assert deleted["totals"]["samples_in"] == deleted["totals"]["samples_out"] + \
            deleted["totals"]["samples_rejected"]
        # seq numbers every pulled sample once across generations (a restart carries on from the ring's last):
        # the totals count no sample twice (at most those an ended generation decoded after its last snapshot
        # are missing)
        assert 0 < deleted["totals"]["samples_in"] <= final.ring.last_seq() + 1
    finally:
        pusher.halt.set()
        sup.shutdown()
