"""A shared decoder whose output ring is gone before its worker opens it (deleted while it was being placed):
that decoder alone fails; the shared worker and the decoders it hosts go on (it used to stop the whole worker,
so every other decoder restarted with a gap). Real LSL, a real shared worker process."""

from __future__ import annotations

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.ring import OutputRing
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, wait_for
from support.pacing import PacedPusher


def test_a_ring_gone_before_the_worker_opens_it_fails_that_decoder_only(models_dir, monkeypatch):
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=0, shared_workers=1)
    card = ModelRegistry(models_dir).get("tiny-gru").card
    name, other = unique("ringgone"), unique("ringgone-b")
    pusher = PacedPusher(new_outlet(name, f"{name}-src")[0], test_signal(int(60 * TINY_SFREQ), seed=3), TINY_SFREQ)
    pusher.start()

    def start(stream: str):
        spec = DecoderSpec.model_validate({"stream": {"name": stream}, "model": "tiny-gru",
                                           "options": {"worker": "shared"}})
        return sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)

    try:
        a = start(name)
        wait_for(lambda: a.status.state == "running" and a.status.counters.samples_out > 0, 60, "A decoding")
        pid = a.status.worker["pid"]
        create_named = OutputRing.create_named

        def gone(capacity: int, n_outputs: int) -> OutputRing:  # as if DELETE freed it before the worker came
            ring = create_named(capacity, n_outputs)
            ring.unlink()
            return ring

        monkeypatch.setattr(OutputRing, "create_named", staticmethod(gone))
        b = start(other)
        wait_for(lambda: b.exit_code is not None or b.status.state == "error", 30, "B to fail")
        before = a.status.counters.samples_out
        wait_for(lambda: a.status.counters.samples_out > before + 20, 30, "A to go on decoding")
        assert a.restarts == 0 and a.status.worker["pid"] == pid and a.status.state == "running"
        assert a.status.counters.samples_lost == 0
    finally:
        pusher.halt.set()
        sup.shutdown()
