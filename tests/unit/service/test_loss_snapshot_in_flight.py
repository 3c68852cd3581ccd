"""The status snapshot a worker sends at once for a loss (``StatusReporter.report_loss``, before the chunk's rows enter
its output ring) keeps the README's contract, ``samples_in == samples_out + samples_rejected``: the chunk being
published is left out of ``samples_in`` until its rows are out. Before, that snapshot counted the chunk in and not
out: a status read then (the CI flake of ``test_restart_totals``: ``assert 650 == (640 + 0)``) showed ``samples_in``
ahead by that chunk, and a worker killed right after it had the chunk counted in and, by its successor, lost.

Real LSL on loopback (a sender that skips samples: a loss), a real dedicated worker (run in a thread) with a real
output ring, every snapshot read from its real status pipe."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time

import numpy as np
import pylsl

from bci_stream.core.messages import Stop
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.ring import OutputRing
from bci_stream.service.status_channel import StatusSender
from bci_stream.service.worker import DecoderWorker
from bci_stream.service.pool_messages import SavedState
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, wait_for

CHUNK, SKIP_AT, SKIPPED, N = 10, 500, 100, 1500


def push_with_a_loss(outlet: pylsl.StreamOutlet, halt: threading.Event) -> None:
    """Chunks of CHUNK samples in real time on the nominal grid; samples SKIP_AT .. SKIP_AT + SKIPPED never sent."""
    x = test_signal(N, seed=60)
    t0 = pylsl.local_clock() + 0.05
    for i in range(0, N, CHUNK):
        ts = t0 + np.arange(i, i + CHUNK) / TINY_SFREQ
        if (wait := ts[-1] - pylsl.local_clock()) > 0:
            time.sleep(wait)
        if halt.is_set():
            return
        if not SKIP_AT <= i < SKIP_AT + SKIPPED:
            outlet.push_chunk(x[i:i + CHUNK], ts.tolist())


def test_every_snapshot_has_samples_in_equal_out_plus_rejected_the_loss_s_too(models_dir):
    name = unique("lossnap")
    outlet = new_outlet(name, f"{name}-src")[0]
    card = ModelRegistry(models_dir).get("tiny-gru").card
    ring = OutputRing.create(mp.get_context("spawn"), 4096, card.n_outputs)
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru"})
    cmd_parent, cmd_child = mp.Pipe()
    status_parent, status_child = mp.Pipe(duplex=False)
    sender = StatusSender(status_child)
    worker = DecoderWorker("d1", 1, spec, str(models_dir), cmd_child, sender, 0.1, ring.handles)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.run()), daemon=True)
    thread.start()
    snapshots = []

    def read() -> bool:
        while status_parent.poll(0):
            if not isinstance(message := status_parent.recv()[2], SavedState):  # (a state snapshot: no status)
                snapshots.append(message)
        return bool(snapshots) and snapshots[-1].counters.samples_out == N - SKIPPED

    halt = threading.Event()
    pusher = None
    try:
        wait_for(lambda: read() or worker.status.state == "running", 40, "the worker to connect")
        pusher = threading.Thread(target=push_with_a_loss, args=(outlet, halt), daemon=True)
        pusher.start()
        wait_for(read, 60, "every sample sent to be decoded")
    finally:
        halt.set()
        cmd_parent.send(Stop())
        thread.join(30)
        if pusher is not None:
            pusher.join(10)
        ring.close()
    assert codes == [0]
    with_loss = [s for s in snapshots if s.counters.samples_lost > 0]
    assert with_loss and with_loss[0].counters.samples_lost == SKIPPED, [s.counters for s in with_loss[:1]]
    bad = [s.counters for s in snapshots
           if s.counters.samples_in != s.counters.samples_out + s.counters.samples_rejected]
    assert not bad, bad[:3]
    assert worker.status.counters.samples_in == N - SKIPPED  # the live counters: the in-flight chunk counted in
    status_parent.close()
