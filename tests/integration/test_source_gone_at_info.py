"""A source that goes away between its resolve and the inlet reading its full info (``StreamInlet.info``: pylsl's
TimeoutError) is looked for again, as a source lost later is; the decoder waits for it (``connecting``), not in
``error`` with a traceback, and decodes once it is back. Real LSL on loopback, a real (dedicated) worker run in a
thread; the source's outlet is destroyed right after the resolve, before the inlet exists."""

from __future__ import annotations

import multiprocessing as mp
import threading

import pylsl

from bci_stream.core.messages import Stop
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.status_channel import StatusSender
from bci_stream.service.worker import DecoderWorker
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, wait_for
from support.pacing import PacedPusher


GONE = {"TimeoutError", "LostError"}  # what pylsl raises for a source gone


class GoneAtInfo(DecoderWorker):
    """The source's outlet is destroyed after the resolve, before the inlet asks for its full info; the outcome of
    each ``open_inlet`` is noted."""

    source: list = []
    outcomes: list = []

    def open_inlet(self, info):
        if self.source:
            self.source.clear()  # the last reference: the outlet is destroyed
            # liblsl winds an outlet down on its own threads: wait until it no longer answers a resolve, so that a
            # loaded machine cannot let the inlet read its info in that window (0.4 s: liblsl returns a resolve of
            # exactly 0.5 s that finds nothing after 5.5 s on about every other call, bci_stream/lsl/look.py)
            wait_for(lambda: not pylsl.resolve_bypred(f"source_id='{info.source_id()}'", 0, 0.4), 10,
                     "the destroyed outlet to stop answering")
        try:
            full = super().open_inlet(info)
        except Exception as exc:
            self.outcomes.append(type(exc).__name__)
            raise
        self.outcomes.append("ok")
        return full


def test_a_source_gone_before_the_inlet_has_its_info_is_looked_for_again(models_dir):
    name = unique("fixAgi")
    GoneAtInfo.source = [new_outlet(name, f"{name}-src")[0]]
    GoneAtInfo.outcomes = []
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru"})
    cmd_parent, cmd_child = mp.Pipe()
    status_parent, status_child = mp.Pipe(duplex=False)
    worker = GoneAtInfo("d1", 1, spec, str(models_dir), cmd_child, StatusSender(status_child), 0.1)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.run()), daemon=True)
    thread.start()
    pusher = None
    try:
        wait_for(lambda: GoneAtInfo.outcomes or worker.status.state == "error", 40, "the inlet's info to fail")
        assert GoneAtInfo.outcomes[0] in GONE, GoneAtInfo.outcomes
        assert worker.status.state == "connecting", (GoneAtInfo.outcomes, worker.status.error)
        outlet = new_outlet(name, f"{name}-src")[0]  # the same source comes back
        pusher = PacedPusher(outlet, test_signal(int(60 * TINY_SFREQ), seed=9), TINY_SFREQ)
        pusher.start()
        wait_for(lambda: worker.status.state in ("running", "error") and worker.status.counters.samples_out > 0
                 or worker.status.state == "error", 40, "decoding after the source came back")
        assert worker.status.state == "running" and worker.status.error is None, (GoneAtInfo.outcomes,
                                                                                  worker.status.error)
        *gone, last = GoneAtInfo.outcomes  # looked for again until it came back
        assert last == "ok" and set(gone) <= GONE, GoneAtInfo.outcomes
    finally:
        if pusher is not None:
            pusher.halt.set()
        cmd_parent.send(Stop())
        thread.join(30)
    assert codes == [0]
    status_parent.close()
