"""A worker that ends before the decoder's first output (killed while it held its first output for a consumer, or
reopened because its input shares a source_id with another decoder's) leaves no last output to count the restart's
gap from: the samples stamped since the decoder's first input data (noted in the output ring) are counted lost, so
every sample owed since then is an output or counted (README: no sample silently dropped). Real LSL on loopback, real
worker processes, kill -9 and the supervisor's own reopen."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, open_output, wait_for
from support.pacing import PacedPusher

CHUNK = 10


def owed(pusher: PacedPusher, since: float, until: float) -> int:
    """Samples ``pusher`` stamped after ``since`` and up to ``until`` (this host's clock: same-host outlets)."""
    ts = pusher.t0 + np.arange(pusher.sent) / TINY_SFREQ
    return int(((ts > since) & (ts <= until + 1e-9)).sum())


def settle(handle) -> None:
    """Wait (at most 30 s) until ``handle`` has decoded all it was sent: its output count stops moving."""
    last, deadline = -1, time.monotonic() + 30
    while (now := handle.ring.head) != last and time.monotonic() < deadline:
        last = now
        time.sleep(0.5)


def accounted(handle, pusher: PacedPusher) -> tuple[int, int, int]:
    """``(outputs + counted lost, samples owed since the decoder's first data, counted lost)``."""
    opened, last = handle.ring.first_data_at(), handle.ring.last_timestamp()
    assert opened is not None and last is not None
    lost = handle.totals().samples_lost
    return handle.ring.head + lost, owed(pusher, opened, last), lost


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_a_worker_killed_before_the_first_output_leaves_its_samples_counted(models_dir, worker):
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=3, restart_backoff=0.1, shared_workers=1)
    name = unique("rbfo")
    pusher = PacedPusher(new_outlet(name, f"{name}-src")[0], test_signal(int(120 * TINY_SFREQ), seed=11),
                         TINY_SFREQ, chunk=CHUNK)
    pusher.start()
    card = ModelRegistry(models_dir).get("tiny-gru").card
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru",
                                       "options": {"worker": worker, "wait_for_consumer_s": 25}})
    try:
        handle = sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)
        wait_for(lambda: handle.ring.first_data_at() is not None
                 and (handle.status.output_stream or {}).get("waiting_for_consumer_s"), 60,
                 "the first worker holding its first output for a consumer")
        time.sleep(1.0)  # samples go by in the first worker's inlet, undecoded
        pid = handle.status.worker["pid"] if handle.shared else handle.status.pid
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: handle.generation == 2 and handle.status.state in ("connecting", "running"), 60,
                 "the restarted worker")
        consumer = open_output(f"{name}-decoded")  # its first output is held for a consumer too
        wait_for(lambda: handle.status.state == "running" and handle.ring.head > 3 * TINY_SFREQ, 60, "decoding")
        pusher.halt.set()
        pusher.join(10)
        settle(handle)
        got, expected, lost = accounted(handle, pusher)
        assert handle.restarts == 1
        assert lost > TINY_SFREQ / 2, (lost, expected)  # over a second went by between the two inlets
        # first data seen in the held inlet (polled every 20 ms): up to a chunk and 20 ms of samples uncounted
        assert expected - (CHUNK + 0.03 * TINY_SFREQ) <= got <= expected + 1, (got, expected, lost)
        del consumer
    finally:
        pusher.halt.set()
        sup.shutdown()


def test_a_decoder_reopened_for_a_shared_input_source_id_counts_its_restart(models_dir):
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=3, restart_backoff=0.1, shared_workers=1)
    shared = f"{unique('rbfo')}-MNE-LSL"  # mne-lsl PlayerLSL's default source_id, on two different streams
    names = [unique("rbfoA"), unique("rbfoB")]
    pushers = [PacedPusher(new_outlet(n, shared)[0], test_signal(int(120 * TINY_SFREQ), seed=20 + k), TINY_SFREQ,
                           chunk=CHUNK) for k, n in enumerate(names)]
    for p in pushers:
        p.start()
    card = ModelRegistry(models_dir).get("tiny-gru").card
    try:
        handles = [sup.start(DecoderSpec.model_validate({"stream": {"name": n}, "model": "tiny-gru"}),
                             n_outputs=card.n_outputs, sfreq=card.sfreq) for n in names]
        wait_for(lambda: all(h.status.state == "running" and h.status.counters.samples_out > 2 * TINY_SFREQ
                             for h in handles) and len({h.status.output_stream["source_id"] for h in handles}) == 2,
                 60, "both decoding, under distinct decoded source_ids")
        moved = [h for h in handles if h.spec.options.output_instance == h.id]
        assert len(moved) == 1, [h.spec.options for h in handles]
        for p in pushers:
            p.halt.set()
            p.join(10)
        for h in handles:
            settle(h)
        apart, pusher = moved[0], pushers[handles.index(moved[0])]
        assert apart.restarts == 1  # a restart as any: said so
        got, expected, lost = accounted(apart, pusher)
        assert abs(got - expected) <= 1, (got, expected, lost)  # from just before the first sample pulled
        other = handles[1 - handles.index(apart)]
        assert other.restarts == 0 and other.totals().samples_lost == 0
    finally:
        for p in pushers:
            p.halt.set()
        sup.shutdown()
