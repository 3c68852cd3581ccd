"""Fault 25: a decoder holding its first output for a consumer (``options.wait_for_consumer_s``) is reopened by the
supervisor itself because its decoded source_id clashes with another decoder's (their inputs share a source_id, as
two mne-lsl ``PlayerLSL`` with their default source_id do). Found by a review (s63b F1): the stopped worker counted
the samples waiting in its inlet as lost, but the reopen never read its final status, so they were in no total; and
the next worker counted its gap from a mark before them (each once now).

A real service in this process, real LSL, real worker processes of both kinds."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bci_stream.api.server import BackgroundServer
from support.common import unique
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


def clash(client, name: str, worker: str) -> tuple[str, str, LivePusher]:
    """Decoder A runs on one stream; decoder B, waiting for a consumer, on another with the same source_id, its
    input flowing from the moment its first worker's inlet opens: B is reopened. Returns A, B and B's pusher."""
    sid = f"{name}-shared-sid"
    out1, _ = new_outlet(f"{name}-1", sid)
    out2, _ = new_outlet(f"{name}-2", sid)
    a = start_running(client, f"{name}-1", worker=worker)
    pusher = LivePusher(out2, first_consumer=True, backlog=BACKLOG)  # every sample it sends is owed; the backlog
    # is in the first worker's inlet before that worker can be reopened
    pusher.keep = (out1, out2)  # the outlets live as long as the pusher
    pusher.start()
    b = post_decoder(client, f"{name}-2", worker=worker, wait_for_consumer_s=25)
    return a, b, pusher


def halt_and_delete(client, a: str, b: str, pusher: LivePusher) -> dict:
    """Stop B's input, let it reach the inlet, delete both decoders; B's final totals."""
    pusher.halt.set()
    pusher.join()
    time.sleep(0.5)
    totals = client.delete(f"/decoders/{b}").json()["totals"]
    client.delete(f"/decoders/{a}")
    return totals


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_the_samples_the_reopened_worker_held_are_counted(client, server, worker):
    """The input stops as soon as the reopen shows: what the first worker held is lost, counted by it alone."""
    a, b, pusher = clash(client, unique(f"clashwait-{worker}"), worker)
    reopened(client, b, waiting=False)
    totals = halt_and_delete(client, a, b, pusher)
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
    totals = halt_and_delete(client, a, b, pusher)
    assert (totals["samples_in"], totals["samples_out"]) == (0, 0), totals
    assert totals["samples_lost"] == len(pusher.sent), (totals, len(pusher.sent))
