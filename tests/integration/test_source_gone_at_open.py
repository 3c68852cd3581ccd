"""A worker whose source goes away between its resolve and the inlet's ``open_stream`` (a restarted worker of a
stream that just vanished) is ``stalled`` with a lost source, like every other decoder of that stream, not in
``error`` with pylsl's TimeoutError traceback; the same source coming back resumes it. Real LSL on loopback, a
real (dedicated) worker run in a thread; the source's outlet is destroyed right after the inlet was created."""

from __future__ import annotations

import multiprocessing as mp
import threading

from bci_stream.core.messages import Stop
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.status_channel import StatusSender
from bci_stream.service.worker import DecoderWorker
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, wait_for
from support.pacing import PacedPusher


class GoneAtOpen(DecoderWorker):
    """The source's outlet is destroyed once the inlet exists (its full info read), before ``open_stream``."""

    source: list = []

    def open_inlet(self, info):
        full = super().open_inlet(info)
        self.source.clear()  # the last reference: the outlet is gone
        return full


def test_a_source_gone_before_open_stream_is_a_lost_stall_and_resumes(models_dir):
    name = unique("fixHgo")
    GoneAtOpen.source = [new_outlet(name, f"{name}-src")[0]]
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru"})
    cmd_parent, cmd_child = mp.Pipe()
    status_parent, status_child = mp.Pipe(duplex=False)
    worker = GoneAtOpen("d1", 2, spec, str(models_dir), cmd_child, StatusSender(status_child), 0.1)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.run()), daemon=True)
    thread.start()
    pusher = None
    try:
        wait_for(lambda: worker.status.state in ("stalled", "error"), 40, "the worker to stall or fail")
        assert worker.status.state == "stalled", worker.status.error
        assert worker.status.stall["kind"] == "lost" and worker.status.error is None
        assert worker.status.counters.stalls == 1
        outlet = new_outlet(name, f"{name}-src")[0]  # the same source comes back
        pusher = PacedPusher(outlet, test_signal(int(60 * TINY_SFREQ), seed=9), TINY_SFREQ)
        pusher.start()
        wait_for(lambda: worker.status.state == "running" and worker.status.counters.samples_out > 0, 40,
                 "decoding after the source came back")
        assert worker.status.counters.resumes == 1
    finally:
        if pusher is not None:
            pusher.halt.set()
        cmd_parent.send(Stop())
        thread.join(30)
    assert codes == [0]
    status_parent.close()
