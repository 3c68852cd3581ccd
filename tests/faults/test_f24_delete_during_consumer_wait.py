"""Fault 24: a decoder deleted while it holds its first output for a consumer (``options.wait_for_consumer_s``), its
input already flowing into its inlet. Found by an audit (s63fault F8): the samples that waited were in no counter of
the final status (1,000 of 1,000 pushed during the wait). Now they are counted lost (``held_lost`` in the log and the
recording), and after a restart the gap since what the last worker accounted for too.

A real service in this process, real LSL, real worker processes of both kinds."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import numpy as np
import pylsl
import pytest

from bci_stream.api.server import BackgroundServer
from support.common import TINY_SFREQ, test_signal, unique
from faults.kit import make_settings, post_decoder
from support.http import wait_status
from support.lsl import new_outlet


@pytest.fixture(scope="module")
def server(fault_models, tmp_path_factory) -> Iterator[BackgroundServer]:
    with BackgroundServer(make_settings(fault_models, tmp_path_factory.mktemp("recordings"))) as srv:
        yield srv


def push(outlet: pylsl.StreamOutlet, n: int, seed: int, t0: float | None = None) -> float:
    """``n`` samples at the stream's rate, 25 a push, stamped on one grid from ``t0`` (now by default); those due
    already go at once. Returns the stamp the next sample of that grid would have."""
    x, t0 = test_signal(n, seed=seed), pylsl.local_clock() if t0 is None else t0
    for i in range(0, n, 25):
        ts = t0 + np.arange(i, i + 25) / TINY_SFREQ
        if (wait := ts[-1] - pylsl.local_clock()) > 0:
            time.sleep(wait)
        outlet.push_chunk(x[i:i + 25], ts.tolist())
    return t0 + n / TINY_SFREQ


def waiting(client, decoder_id: str) -> dict:
    return wait_status(client, decoder_id, lambda s: s["state"] == "connecting" and s["connected"]
                       and (s["output_stream"] or {}).get("waiting_for_consumer_s"), 90, "its wait for a consumer")


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_samples_held_by_the_wait_are_counted_lost_at_a_delete(client, server, worker):
    name = unique(f"heldwait-{worker}")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = post_decoder(client, name, worker=worker, wait_for_consumer_s=25)
    waiting(client, decoder_id)
    push(outlet, 1000, seed=1)
    time.sleep(0.5)  # every sample in its inlet
    end = client.delete(f"/decoders/{decoder_id}")
    assert end.status_code == 200, end.text
    totals = end.json()["totals"]
    assert (totals["samples_in"], totals["samples_out"], totals["samples_lost"]) == (0, 0, 1000), totals


def test_after_a_restart_the_gap_and_the_held_samples_are_counted(client, server):
    """Killed while it waits (no output yet): the restarted worker waits again (the wait asked for still holds); the
    samples pushed before its inlet opened are the restart's gap, those after it wait in its inlet: a DELETE then
    counts them all, each once."""
    name = unique("heldwait-restart")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = post_decoder(client, name, worker="dedicated", wait_for_consumer_s=25)
    pid = waiting(client, decoder_id)["pid"]
    t_next = push(outlet, 500, seed=2)  # into the first worker's inlet: owed
    time.sleep(0.5)  # noted as owed (the wait looks every 20 ms)
    os.kill(pid, signal.SIGKILL)
    wait_status(client, decoder_id, lambda s: s["restarts"] == 1 and s["pid"] not in (None, pid)
                and s["state"] == "connecting" and s["connected"], 90, "the restarted worker's wait")
    push(outlet, 1000, seed=3, t0=t_next)  # the same grid: what went by meanwhile is the 500 samples
    time.sleep(0.5)
    end = client.delete(f"/decoders/{decoder_id}").json()
    totals = end["totals"]
    assert (totals["samples_in"], totals["samples_out"]) == (0, 0), totals
    # the owed mark is about the first worker's oldest waiting sample, up to a chunk (25) later
    assert 1500 - 25 <= totals["samples_lost"] <= 1500, totals
