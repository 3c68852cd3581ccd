"""Fault 7 on a sender whose stamps jitter: ``kill -9`` of the worker of a stream stamped with its push times.

Found by the fuzz campaign of audit s53fuzz (F1, seed 1002): a sender stamping each chunk with its push time (as
``push_chunk(x)`` does without a timestamp, and most amplifier apps) lost the samples that went by while its decoder's
worker was down, and in about half of the runs the restarted worker counted none of them: the step over the break was
read as a late delay draw, so the stream's first stamps looked "mostly late" and the restart's gap was dropped
(920-1640 samples neither decoded nor counted lost). The stamps here are drawn (the schedule plus 0-2 ms), not read
from the clock, so they are the same at any load; what the kill destroys depends on the machine, never the check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pylsl
import pytest

from bci_stream.api.server import BackgroundServer
from faults.kit import WsReader, kill_and_restarted, make_settings, start_running, ws_url
from support.common import TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet

CHUNK = 10


@pytest.fixture(scope="module")
def server(fault_models, tmp_path_factory) -> Iterator[BackgroundServer]:
    settings = make_settings(fault_models, tmp_path_factory.mktemp("recordings"), max_restarts=1)
    with BackgroundServer(settings) as srv:
        yield srv


class PushTimePusher(threading.Thread):
    """Chunks of CHUNK samples in real time, each stamped with its push time (due + 0-2 ms, drawn): liblsl gives the
    chunk's other samples the stamps before it at the nominal rate. Keeps every sample's stamp as the inlet gets it."""

    def __init__(self, outlet: pylsl.StreamOutlet, seed: int) -> None:
        super().__init__(daemon=True)
        self.outlet, self.rng = outlet, np.random.default_rng(seed)
        self.x = test_signal(90 * int(TINY_SFREQ), seed=seed)
        self.sent: list[float] = []
        self.halt = threading.Event()

    def run(self) -> None:
        t0, i = pylsl.local_clock() + 0.05, 0
        while not self.halt.is_set() and i + CHUNK <= len(self.x):
            push = t0 + (i + CHUNK) / TINY_SFREQ + self.rng.uniform(0.0, 2e-3)
            if (wait := push - pylsl.local_clock()) > 0:
                time.sleep(wait)
            self.outlet.push_chunk(self.x[i:i + CHUNK], timestamp=push)
            self.sent.extend((push - (CHUNK - 1 - np.arange(CHUNK)) / TINY_SFREQ).tolist())
            i += CHUNK


def test_kill_9_of_a_push_time_stamped_stream_counts_every_sample_it_destroyed(client, server, worker_kind):
    """Every sample sent is an output (over WS, in order, once) or counted lost, the kill's gap once."""
    name = unique("killjit")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, outputs_buffer_s=60, worker=worker_kind)
    ws = WsReader(ws_url(server.url, decoder_id))
    pusher = PushTimePusher(outlet, seed=53)
    try:
        ws.start()
        pusher.start()
        pid = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 500, 60,
                          "decoding under way")["pid"]
        kill_and_restarted(client, decoder_id, pid)
        # the restart's gap is judged on a full window of the new worker's stamps (up to 4 s amid jitter)
        sent_then = len(pusher.sent)
        wait_status(client, decoder_id, lambda s: len(pusher.sent) >= sent_then + 6 * TINY_SFREQ, 60,
                    "6 s more of the stream")
        pusher.halt.set()
        pusher.join()
        n_sent = len(pusher.sent)
        # amid jitter a loss is counted to within a sample (gaps.py); what is short beyond that fails below
        st = wait_status(client, decoder_id, lambda s: len(ws.seq) + s["totals"]["samples_lost"] >= n_sent - 1
                         and s["counters"].get("samples_out") == s["counters"].get("samples_in"), 30,
                         f"every one of the {n_sent} samples sent to be decoded ({len(ws.seq)} so far) or counted lost")
        t = np.asarray(ws.t)
        assert ws.dropped == 0
        back = np.flatnonzero(np.diff(t) <= 0)  # each row once, in order: where not, what came around it
        assert len(back) == 0, [(int(k), ws.seq[max(k - 2, 0):k + 3], ws.t[max(k - 2, 0):k + 3]) for k in back[:5]]
        sent = np.sort(np.asarray(pusher.sent))
        at = np.clip(np.searchsorted(sent, t), 1, len(sent) - 1)
        off = np.minimum(np.abs(sent[at] - t), np.abs(sent[at - 1] - t))
        tot = st["totals"]
        # only what was sent; but a worker whose connection began inside a pushed chunk got the rest of it stamped
        # from 0 by liblsl, and stamps those back from the next chunk's stamp (zero_stamps): off by the push jitter
        placed = np.flatnonzero(off >= 1e-6)
        assert len(placed) <= tot["deduced_timestamps"] and (off[placed] <= 2e-3 + 1e-6).all(), (tot, off[placed])
        assert tot["gaps"] == 1 and tot["samples_lost"] > 0, tot
        assert abs(len(t) + tot["samples_lost"] - n_sent) <= 1, (len(t), tot["samples_lost"], n_sent)
    finally:
        pusher.halt.set()
        ws.close()
        client.delete(f"/decoders/{decoder_id}")
