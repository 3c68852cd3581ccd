"""``GET /decoders/{id}/latency`` while a crashed worker's restart waits (its backoff here; a Ray placement too):
409 ``retryable``, as the README says for a restarted worker that has not decoded yet. Before (audit s61ray F7), 200
with the dead worker's histograms, as if they were the current worker's.

A real server (restart backoff 4 s), a real LSL sender, a real worker killed with SIGKILL."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import httpx
import pytest

from bci_stream.api.server import BackgroundServer
from faults.kit import LivePusher, make_settings, start_running
from support.common import unique
from support.http import wait_status
from support.lsl import new_outlet


@pytest.fixture(scope="module")
def server(fault_models, tmp_path_factory) -> Iterator[BackgroundServer]:
    settings = make_settings(fault_models, tmp_path_factory.mktemp("recordings"), restart_backoff=4.0)
    with BackgroundServer(settings) as srv:
        yield srv


def test_latency_while_the_restart_waits_is_409_retryable_then_the_new_workers(client: httpx.Client) -> None:
    name = unique("latrestart")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, worker="dedicated")
    pusher = LivePusher(outlet, seed=161)
    pusher.start()
    try:
        st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 200, 60, "decoding")
        assert client.get(f"/decoders/{decoder_id}/latency").status_code == 200
        os.kill(st["pid"], signal.SIGKILL)
        wait_status(client, decoder_id, lambda s: s["state"] == "starting" and s["restarts"] == 1, 30,
                    "the restart waiting for its backoff")
        r = client.get(f"/decoders/{decoder_id}/latency")
        assert r.status_code == 409 and r.json()["retryable"] is True, r.text
        assert "has no latency data yet (state 'starting'): retry once it decodes" in r.json()["detail"], r.text
        wait_status(client, decoder_id, lambda s: s["state"] == "running" and s["counters"].get("samples_out", 0) > 50,
                    60, "the restarted worker decoding")
        assert client.get(f"/decoders/{decoder_id}/latency").status_code == 200
    finally:
        pusher.halt.set()
        pusher.join()
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
