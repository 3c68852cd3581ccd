"""Fault 17: a shared worker hangs (``SIGSTOP`` stands in for a deadlock in native code) and one of its decoders is
deleted. Found by an audit: the DELETE answered ``exit_code 0`` after its 5 s wait, the hung process stayed (state T,
~80 MB) until the service shut down, and new shared decoders got a new process for its index: more processes than
``shared_workers``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bci_stream.api.server import BackgroundServer
from support.common import TINY_SFREQ, test_signal, unique
from faults.kit import (LivePusher, assert_service_up, frozen, make_settings, pid_gone, post_decoder, start_running,
                        status, worker_pids)
from support.http import wait_status
from support.lsl import new_outlet


@pytest.fixture(scope="module")
def server(fault_models, tmp_path_factory) -> Iterator[BackgroundServer]:
    """One shared worker: every shared decoder of a test is on the same process."""
    settings = make_settings(fault_models, tmp_path_factory.mktemp("recordings"), shared_workers=1, max_restarts=2)
    with BackgroundServer(settings) as srv:
        yield srv


def test_delete_on_a_hung_shared_worker_kills_and_reaps_it(client, server):
    """The shared worker of a decoder is stopped (SIGSTOP), then the decoder is deleted. Expected: the DELETE's
    answer says the stop failed (``exit_code`` -9, the kill's, not 0: a clean stop) and why (``last_error`` names
    the worker's pid and the 5.0 s it waited); the process is killed and reaped; the next shared decoder runs on a
    new process, and the pool holds no more processes than ``shared_workers`` (1)."""
    name = unique("hung1")
    outlet, _ = new_outlet(name, f"{name}-src")  # noqa: F841 - keeps the stream alive
    baseline = worker_pids()
    decoder_id = start_running(client, name, worker="shared", output_name=f"{name}-a")
    pid = status(client, decoder_id)["worker"]["pid"]
    with frozen(pid):
        r = client.delete(f"/decoders/{decoder_id}", timeout=120.0)
        assert r.status_code == 200, r.text
        st = r.json()
        assert st["state"] == "stopped" and st["exit_code"] == -9, st
        assert f"pid {pid}" in st["last_error"] and "5.0 s" in st["last_error"] and "killed" in st["last_error"], st
        assert pid_gone(pid, timeout=30.0), "the hung shared worker was not killed and reaped"
    other = start_running(client, name, worker="shared", output_name=f"{name}-b")
    new_pid = status(client, other)["worker"]["pid"]
    assert new_pid != pid and worker_pids() - baseline == {new_pid}
    assert client.delete(f"/decoders/{other}").json()["exit_code"] == 0
    assert_service_up(client)


def test_the_other_decoder_of_a_hung_shared_worker_is_restarted_from_its_state(client, server):
    """Two decoders share the worker (one shared worker in this service); it is stopped (SIGSTOP) and one decoder is
    deleted. Expected: that DELETE ends in the kill of the worker (``exit_code`` -9); the other decoder is recovered
    as after a crash of its worker: restarted once on a new process, from its last state snapshot
    (``worker.restored_seq``), the samples missed meanwhile counted (a gap, ``samples_lost``), decoding on;
    ``last_error`` says its worker was killed as hung."""
    name = unique("hung2")
    outlet, _ = new_outlet(name, f"{name}-src")
    ids = [start_running(client, name, worker="shared", output_name=f"{name}-{k}", snapshot_interval_s=0.2)
           for k in ("a", "b")]
    pusher = LivePusher(outlet, seed=117)
    pusher.x = test_signal(600 * int(TINY_SFREQ), seed=117)  # long enough for a slow machine
    pusher.start()
    try:
        before = [wait_status(client, i, lambda s: s["counters"].get("samples_out", 0) > 500, 60, "decoding")
                  for i in ids]
        pid = before[0]["worker"]["pid"]
        assert before[1]["worker"]["pid"] == pid, before
        with frozen(pid):
            r = client.delete(f"/decoders/{ids[0]}", timeout=120.0)
            assert r.status_code == 200 and r.json()["exit_code"] == -9, r.text
            st = wait_status(client, ids[1], lambda s: s["restarts"] == 1 and s["pid"] not in (None, pid)
                             and s["counters"].get("samples_out", 0) > 500, 120, "the other decoder to decode again")
        assert st["worker"].get("restored_seq") is not None, st["worker"]
        st = wait_status(client, ids[1], lambda s: s["counters"]["gaps"] >= 1, 60, "the gap to be counted")
        assert st["counters"]["samples_lost"] > 0 and st["restarts"] == 1, st["counters"]
        assert st["state"] in ("running", "stalled"), st
        assert f"did not let decoder {ids[0]} leave within 5.0 s (hung): killed" in st["last_error"], st
        assert st["last_error"].startswith(f"worker process {pid} exited with code -9"), st
        assert pid_gone(pid)
    finally:
        pusher.halt.set()
    assert client.delete(f"/decoders/{ids[1]}").status_code == 200
    assert_service_up(client)


def test_a_decoder_deleted_while_it_starts_leaves_its_busy_shared_worker_alive(client, server):
    """A decoder still starting (its inlet resolving a stream nobody sends yet) is deleted while another decoder runs
    on the same shared worker. Expected: the worker is not killed as hung; the running decoder goes on, with no
    restart, on the same process. (A guard of the whole path: here the resolve ends at the stop; a start that does
    not, and a worker still reporting meanwhile, is `tests/unit/service/test_shared_pool_leave.py`.)"""
    name = unique("busy")
    outlet, _ = new_outlet(name, f"{name}-src")
    running = start_running(client, name, worker="shared", output_name=f"{name}-a")
    pid = status(client, running)["worker"]["pid"]
    pusher = LivePusher(outlet, seed=118)
    pusher.x = test_signal(600 * int(TINY_SFREQ), seed=118)
    pusher.start()
    try:
        starting = post_decoder(client, unique("nobody-sends"), worker="shared", resolve_timeout=120.0)
        wait_status(client, starting, lambda s: s["state"] == "connecting" and (s.get("worker") or {}).get("pid")
                    == pid, 90, "the second decoder to be resolving on the same worker")
        r = client.delete(f"/decoders/{starting}", timeout=120.0)
        assert r.status_code == 200, r.text
        assert r.json()["exit_code"] != -9, r.json()
        out = status(client, running)["counters"]["samples_out"]
        st = wait_status(client, running, lambda s: s["counters"]["samples_out"] > out + 200, 60, "decoding on")
        assert st["restarts"] == 0 and st["worker"]["pid"] == pid and not pid_gone(pid, timeout=0.1), st
    finally:
        pusher.halt.set()
    assert client.delete(f"/decoders/{running}").json()["exit_code"] == 0
    assert_service_up(client)
