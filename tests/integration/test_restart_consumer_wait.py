"""A restarted worker waits for the decoded stream's LSL consumers to re-subscribe only when its outlet had
consumers (``output_stream.consumers`` in the status, noted in the output ring for the next generation); with
none (WebSocket clients or a recording only) it decodes at once. Real LSL on loopback, real worker processes,
kill -9."""

from __future__ import annotations

import os
import signal

import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, open_output, wait_for
from support.pacing import PacedPusher


def kill_and_wait(handle, generation: int) -> dict:
    """kill -9 the worker of ``handle``; the output_stream of the next generation once it decodes."""
    pid = handle.status.worker["pid"] if handle.shared else handle.status.pid
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: handle.generation == generation and handle.status.state == "running"
             and handle.status.counters.samples_out > 0, 60, f"generation {generation} to decode")
    return dict(handle.status.output_stream)


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_a_restart_waits_for_consumers_only_if_the_outlet_had_some(models_dir, worker):
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=3, restart_backoff=0.1, shared_workers=1)
    name = unique("fixHrw")
    outlet = new_outlet(name, f"{name}-src")[0]
    pusher = PacedPusher(outlet, test_signal(int(120 * TINY_SFREQ), seed=7), TINY_SFREQ)
    pusher.start()
    card = ModelRegistry(models_dir).get("tiny-gru").card
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru", "options": {"worker": worker}})
    try:
        handle = sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)
        wait_for(lambda: handle.status.state == "running" and handle.status.counters.samples_out > 0
                 and handle.status.output_stream.get("consumers") is False, 60, "decoding, no consumer reported")
        first = handle.generation
        # no LSL consumer ever: the restarted worker does not wait for one
        out = kill_and_wait(handle, first + 1)
        assert "consumer_waited_s" not in out, out
        # an LSL consumer of the decoded stream: the next restart waits for it to re-subscribe
        inlet = open_output(f"{name}-decoded")
        wait_for(lambda: handle.status.output_stream.get("consumers") is True, 30, "the consumer in the status")
        out = kill_and_wait(handle, first + 2)
        assert "consumer_waited_s" in out, out
        inlet.close_stream()
    finally:
        pusher.halt.set()
        sup.shutdown()
