"""Fault 25: a decoder holding its first output for a consumer (``options.wait_for_consumer_s``) is reopened by the
supervisor itself because its decoded source_id clashes with another decoder's (their inputs share a source_id, as
two mne-lsl ``PlayerLSL`` with their default source_id do). Found by a review (s63b F1): the stopped worker counted
the samples waiting in its inlet as lost, but the reopen never read its final status, so they were in no total; and
the next worker counted its gap from a mark before them (each once now).

A real service in this process, real LSL, real worker processes of both kinds."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pylsl
import pytest

from bci_stream.api.server import BackgroundServer
from support.common import TINY_SFREQ, unique
from faults.kit import LivePusher, make_settings, post_decoder, start_running
from support.http import wait_status
from support.lsl import new_outlet


BACKLOG = 200


@pytest.fixture(scope="module")
def server(fault_models, tmp_path_factory) -> Iterator[BackgroundServer]:
    with BackgroundServer(make_settings(fault_models, tmp_path_factory.mktemp("recordings"))) as srv:
        yield srv


def reopened(client, decoder_id: str, waiting: bool) -> dict:
    """The decoder's status once the supervisor reopened it (and, ``waiting``, its new worker waits again: its outlet
    under .../<its id>; ``restarts`` counts the reopen before the old worker has stopped, review s64 F5)."""
    def new_worker_waits(s: dict) -> bool:
        out = s["output_stream"] or {}
        return (s["state"] == "connecting" and bool(out.get("waiting_for_consumer_s"))
                and str(out.get("source_id", "")).endswith(f"/{decoder_id}"))

    return wait_status(client, decoder_id, lambda s: s["restarts"] >= 1 and (not waiting or new_worker_waits(s)), 90,
                       "its reopen as .../<its id>" + (" and the new worker's wait" if waiting else ""))


class FirstConsumerPusher(LivePusher):
    """Sends once the outlet has a consumer (the first worker's inlet; every sample it sends is owed): the last
    :data:`BACKLOG` samples of the grid at once (in that inlet before the worker can be reopened), then in real time."""

    def run(self) -> None:
        while not self.outlet.have_consumers() and not self.halt.wait(0.001):
            pass
        t0, i = pylsl.local_clock() - BACKLOG / TINY_SFREQ, 0
        while not self.halt.is_set() and i < len(self.x):
            ts = t0 + np.arange(i, i + 10) / TINY_SFREQ
            if (wait := ts[-1] - pylsl.local_clock()) > 0:
                time.sleep(wait)
            self.outlet.push_chunk(self.x[i:i + 10], ts.tolist())
            self.sent.extend(ts.tolist())
            i += 10


def clash(client, name: str, worker: str) -> tuple[str, str, LivePusher]:
    """Decoder A runs on one stream; decoder B, waiting for a consumer, on another with the same source_id, its
    input flowing from the moment its first worker's inlet opens: B is reopened. Returns A, B and B's pusher."""
    sid = f"{name}-shared-sid"
    out1, _ = new_outlet(f"{name}-1", sid)
    out2, _ = new_outlet(f"{name}-2", sid)
    a = start_running(client, f"{name}-1", worker=worker)
    pusher = FirstConsumerPusher(out2)
    pusher.keep = (out1, out2)  # the outlets live as long as the pusher
    pusher.start()
    b = post_decoder(client, f"{name}-2", worker=worker, wait_for_consumer_s=25)
    return a, b, pusher


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_the_samples_the_reopened_worker_held_are_counted(client, server, worker):
    """The input stops as soon as the reopen shows: what the first worker held is lost, counted by it alone."""
    a, b, pusher = clash(client, unique(f"clashwait-{worker}"), worker)
    reopened(client, b, waiting=False)
    pusher.halt.set()
    pusher.join()
    time.sleep(0.5)
    totals = client.delete(f"/decoders/{b}").json()["totals"]
    client.delete(f"/decoders/{a}")
    assert (totals["samples_in"], totals["samples_out"]) == (0, 0), totals
    # the backlog waited in the first worker's inlet; what went by between the two workers' inlets with no later
    # sample to tell it is counted by neither
    assert BACKLOG <= totals["samples_lost"] <= len(pusher.sent), (totals, len(pusher.sent))  # before: 0


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_each_sample_is_counted_once_across_the_reopen(client, server, worker):
    """The input goes on into the new worker's wait: every sample sent is counted lost once (before the fix of the
    owed mark, the first worker's held samples twice)."""
    a, b, pusher = clash(client, unique(f"clashwait-once-{worker}"), worker)
    reopened(client, b, waiting=True)
    time.sleep(1.0)
    pusher.halt.set()
    pusher.join()
    time.sleep(0.5)
    totals = client.delete(f"/decoders/{b}").json()["totals"]
    client.delete(f"/decoders/{a}")
    assert (totals["samples_in"], totals["samples_out"]) == (0, 0), totals
    assert totals["samples_lost"] == len(pusher.sent), (totals, len(pusher.sent))
