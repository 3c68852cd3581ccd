"""Fault 7 right after a loss: ``kill -9`` of the worker just after it counted a gap and published the rows after it,
or while it was still judging the gap on the stamps after it.

Found by the fuzz campaign of audit s53fuzz (F2, seed 1004): a worker counts a loss when the first stamps after a gap
come, publishes those rows (into its output ring too), and reports its counters on a timer. Killed before its next
status snapshot, its count was in no snapshot, so not in ``totals``; and its successor counts its own gap from the
ring's last row, after the first gap: those samples were neither decoded nor counted lost (250 of 1,384 in the
campaign's case, whose worker was killed 0.1 s after a sender's reopening was counted). The status interval here is
long (2 s) so that the kill, a few milliseconds after the rows arrive, comes before the next periodic snapshot.

The same when the kill comes while the gap is still being judged (F2b, seed 1018: 451 samples of a 256 Hz stream): a
loss is counted on the stamps of the first 0.25 s after it (a regular stream), whose rows are published meanwhile, and
that judgement died with the worker; its successor resumed from the ring's last row, after the gap.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import numpy as np
import pylsl
import pytest

from bci_stream.api.server import BackgroundServer
from faults.kit import WsReader, make_settings, start_running, ws_url
from support.common import TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet, open_output

CHUNK, SKIP_AT, SKIPPED, BURST = 10, 1000, 300, 200


@pytest.fixture(scope="module")
def server(fault_models, tmp_path_factory) -> Iterator[BackgroundServer]:
    settings = make_settings(fault_models, tmp_path_factory.mktemp("recordings"), max_restarts=1, status_interval=2.0)
    with BackgroundServer(settings) as srv:
        yield srv


class SkippingPusher(threading.Thread):
    """Chunks of CHUNK samples in real time, each sample stamped on the nominal grid; samples SKIP_AT ..
    SKIP_AT + SKIPPED are never sent (a link that dropped them: their stamps are missing), and the ``burst`` samples
    after them go in one chunk (a sender catching up after a stall, as in the campaign's case). With ``hold``, the
    sender then waits until it is set (and catches up on the grid). Keeps the stamps sent."""

    def __init__(self, outlet: pylsl.StreamOutlet, burst: int = BURST, hold: threading.Event | None = None) -> None:
        super().__init__(daemon=True)
        self.outlet, self.burst, self.hold = outlet, burst, hold
        self.x = test_signal(60 * int(TINY_SFREQ), seed=54)
        self.sent: list[float] = []
        self.t0 = pylsl.local_clock() + 0.05
        self.halt = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.halt.is_set() and i + self.burst <= len(self.x):
            k = self.burst if i == SKIP_AT + SKIPPED else CHUNK
            ts = self.t0 + np.arange(i, i + k) / TINY_SFREQ
            if (wait := ts[-1] - pylsl.local_clock()) > 0:
                time.sleep(wait)
            if not SKIP_AT <= i < SKIP_AT + SKIPPED:
                self.outlet.push_chunk(self.x[i:i + k], ts.tolist())
                self.sent.extend(ts.tolist())
            if k == self.burst and self.hold is not None:
                self.hold.wait(60)
            i += k


def test_kill_9_just_after_a_counted_loss_keeps_the_count(client, server, worker_kind):
    """Every slot of the sender's timeline is an output (over WS, once, in order) or counted lost: the skipped samples
    (counted by the killed worker) and those the kill destroyed (counted by its successor), two gaps."""
    # killed at a row past the gap's settling window (125 samples): published once the loss was counted
    tot = kill_after_the_gap(client, server, worker_kind, BURST, SKIP_AT + SKIPPED + 130, None)
    assert tot["gaps"] == 2, tot


def test_kill_9_while_a_loss_is_still_judged_counts_it_in_the_successor(client, server, worker_kind):
    """The kill comes when 60 samples after the gap are decoded, fewer than the 125 its count waits for: the
    successor judges the gap again from the last sample before it, so every slot is an output or counted lost."""
    tot = kill_after_the_gap(client, server, worker_kind, 60, SKIP_AT + SKIPPED + 59, 0)
    assert tot["samples_lost"] >= SKIPPED and tot["gaps"] >= 1, tot


def test_kill_9_after_a_stall_counted_the_loss_counts_it_once(client, server):
    """The same gap counted at the stall that follows it (the window closed at once): the successor does not count
    it again."""
    tot = kill_after_the_gap(client, server, "dedicated", 60, SKIP_AT + SKIPPED + 59, SKIPPED)
    assert tot["samples_lost"] >= SKIPPED and tot["gaps"] >= 1, tot


def kill_after_the_gap(client, server, worker: str, burst: int, kill_at: int, lost_before: int | None) -> dict:
    """``kill -9`` once the decoded row of sample ``kill_at`` arrived; with ``lost_before`` (0: the gap still being
    judged, SKIPPED: counted at the stall the test waits for), the sender holds after its burst until the kill and
    ``samples_lost`` before the kill is that. Asserts every slot decoded once, in order, or counted lost; returns
    ``totals``."""
    name = unique("killgap")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, outputs_buffer_s=60, worker=worker)
    ws = WsReader(ws_url(server.url, decoder_id))
    out = open_output(f"{name}-decoded")
    hold = None if lost_before is None else threading.Event()
    pusher = SkippingPusher(outlet, burst=burst, hold=hold)
    row = pusher.t0 + kill_at / TINY_SFREQ - 1e-6
    try:
        ws.start()
        pid = client.get(f"/decoders/{decoder_id}").json()["pid"]
        pusher.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            _, ts = out.pull_chunk(timeout=0.005, max_samples=4096)
            if ts and ts[-1] >= row:
                break
        else:
            pytest.fail("no decoded row after the gap within 60 s")
        if lost_before:
            wait_status(client, decoder_id, lambda s: s["state"] == "stalled", 30, "the stall")
        st = client.get(f"/decoders/{decoder_id}").json() if hold is not None else None
        os.kill(pid, signal.SIGKILL)
        if hold is not None:
            assert st["totals"]["samples_lost"] == lost_before, st["totals"]
            hold.set()
        wait_status(client, decoder_id, lambda s: s["restarts"] == 1 and s["pid"] != pid
                    and s["counters"].get("samples_out", 0) > 500, 90, "the new worker to decode")
        pusher.halt.set()
        pusher.join()
        first, last = pusher.sent[0], pusher.sent[-1]
        slots = int(round((last - first) * TINY_SFREQ)) + 1
        st = wait_status(client, decoder_id, lambda s: len(ws.seq) + s["totals"]["samples_lost"] >= slots, 30,
                         "every sample to be decoded or counted lost")
        t = np.asarray(ws.t)
        assert ws.dropped == 0 and np.all(np.diff(t) > 0)
        tot = st["totals"]
        assert len(t) + tot["samples_lost"] == slots, (len(t), tot["samples_lost"], slots)
        return tot
    finally:
        if hold is not None:
            hold.set()
        pusher.halt.set()
        ws.close()
        client.delete(f"/decoders/{decoder_id}")
