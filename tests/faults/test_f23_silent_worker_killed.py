"""Fault 23: a worker hangs while its decoder runs (``SIGSTOP`` stands in for a deadlock in native code or a write
blocked on a dead mount) and nobody deletes it. Before, ``/ready`` listed it in ``decoders_unresponsive`` and that
was all: the decoder stayed dead until a person noticed. Now the supervisor kills a worker that sent no status for
``hung_kill_s`` (60 s by default; 5 s here, the least it may be) and restarts it as after a crash: from its last
state for a shared worker's decoders, the samples missed meanwhile counted lost, ``last_error`` saying why. The whole
service paused and resumed (Ctrl-Z, ``docker pause``) kills nothing (review s63 F1: every worker was killed).

A real service in this process, real LSL, real worker processes."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from bci_stream.api.server import BackgroundServer
from support.common import TINY_SFREQ, test_signal, unique
from faults.kit import (LivePusher, assert_service_up, frozen, make_settings, pid_gone, start_running,
                        supervisor_of)
from support.bound_port import listening_port
from support.http import wait_status
from support.lsl import new_outlet
from support.serve_process import serve_process

LIMIT_S = 5.0


@pytest.fixture(scope="module")
def server(fault_models, tmp_path_factory) -> Iterator[BackgroundServer]:
    """One shared worker (both shared decoders of a test on it); a worker silent for 5 s is hung."""
    settings = make_settings(fault_models, tmp_path_factory.mktemp("recordings"), shared_workers=1, max_restarts=2,
                             hung_kill_s=LIMIT_S)
    with BackgroundServer(settings) as srv:
        assert supervisor_of(srv).hung_kill_s == LIMIT_S
        yield srv


@pytest.mark.parametrize("kind", ["dedicated", "shared"])
def test_a_silent_worker_is_killed_and_its_decoders_restarted(client, server, kind):
    name = unique(f"silent-{kind}")
    outlet, _ = new_outlet(name, f"{name}-src")
    n = 1 if kind == "dedicated" else 2
    ids = [start_running(client, name, worker=kind, output_name=f"{name}-{k}", snapshot_interval_s=0.2)
           for k in range(n)]
    pusher = LivePusher(outlet, seed=123)
    pusher.x = test_signal(600 * int(TINY_SFREQ), seed=123)  # long enough for a slow machine
    pusher.start()
    try:
        before = [wait_status(client, i, lambda s: s["counters"].get("samples_out", 0) > 500, 60, "decoding")
                  for i in ids]
        pid = before[0]["worker"]["pid"]
        with frozen(pid):
            after = [wait_status(client, i, lambda s: s["restarts"] == 1 and s["pid"] not in (None, pid)
                                 and s["counters"].get("samples_out", 0) > 500, 120, "decoding again") for i in ids]
        assert pid_gone(pid, timeout=30.0), "the hung worker was not killed and reaped"
        for st in after:
            assert st["last_error"].startswith(f"worker process {pid} exited with code -9"), st["last_error"]
            assert "sent no status" in st["last_error"], st["last_error"]
            assert f"the limit is {LIMIT_S:g} s, setting hung_kill_s): killed by the supervisor" in st["last_error"]
            assert st["state"] in ("running", "stalled"), st
            if kind == "shared":  # restarted from its last state snapshot
                assert st["worker"].get("restored_seq") is not None, st["worker"]
        for i in ids:
            st = wait_status(client, i, lambda s: s["counters"]["gaps"] >= 1, 60, "the gap to be counted")
            assert st["counters"]["samples_lost"] > 0 and st["restarts"] == 1, st["counters"]
            assert st["totals"]["samples_in"] == st["totals"]["samples_out"] + st["totals"]["samples_rejected"], \
                st["totals"]
    finally:
        pusher.halt.set()
    for i in ids:
        assert client.delete(f"/decoders/{i}").status_code == 200
    assert_service_up(client)


def test_a_worker_silent_while_it_waits_for_a_consumer_is_killed_too(client, server):
    """``connecting`` while it holds its first output for a consumer (``wait_for_consumer_s``), the worker reports
    every status interval: silent, it is hung (review s63b F2: only running and stalled decoders were judged)."""
    name = unique("silent-wait")
    outlet, _ = new_outlet(name, f"{name}-src")  # noqa: F841 - keeps the stream alive
    r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                       "options": {"worker": "dedicated", "wait_for_consumer_s": 25}})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    st = wait_status(client, decoder_id, lambda s: s["state"] == "connecting"
                     and (s["output_stream"] or {}).get("waiting_for_consumer_s"), 90, "its wait for a consumer")
    pid = st["pid"]
    with frozen(pid):
        st = wait_status(client, decoder_id, lambda s: s["restarts"] == 1 and s["pid"] not in (None, pid), 120,
                         "the hung worker killed and restarted")
    assert "while the decoder was connecting (hung; the limit is 5 s" in st["last_error"], st["last_error"]
    assert pid_gone(pid, timeout=30.0)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_the_whole_service_paused_longer_than_the_limit_kills_no_worker(fault_models, tmp_path):
    """``bci-stream serve`` (its own session: supervisor and workers) stopped 8 s and continued, as Ctrl-Z and fg or
    ``docker pause`` do, with ``hung_kill_s`` 5 s: the workers report again once they run; none is killed."""
    env = dict(os.environ, BCI_STREAM_MODELS_DIR=str(fault_models), BCI_STREAM_RECORDINGS_DIR=str(tmp_path),
               BCI_STREAM_HUNG_KILL_S=str(LIMIT_S), BCI_STREAM_STATUS_INTERVAL="0.1")
    name = unique("paused-service")
    outlet, _ = new_outlet(name, f"{name}-src")
    pusher = LivePusher(outlet, seed=131)
    pusher.x = test_signal(600 * int(TINY_SFREQ), seed=131)
    with serve_process(env) as (proc, lines), \
            httpx.Client(base_url=f"http://127.0.0.1:{listening_port(proc.pid)}", timeout=60) as client:
        ids = [start_running(client, name, worker=kind, output_name=f"{name}-{kind}")
               for kind in ("dedicated", "shared")]
        pusher.start()
        try:
            for i in ids:
                wait_status(client, i, lambda s: s["counters"].get("samples_out", 0) > 500, 60, "decoding")
            os.killpg(proc.pid, signal.SIGSTOP)
            try:
                time.sleep(LIMIT_S + 3.0)
            finally:
                os.killpg(proc.pid, signal.SIGCONT)
            for i in ids:
                wait_status(client, i, lambda s: s["status_age_s"] < 1.0, 60, "a fresh status after the pause")
            time.sleep(LIMIT_S)  # a kill judged on resume would show by now
            after = [client.get(f"/decoders/{i}").json() for i in ids]
        finally:
            pusher.halt.set()
        assert [(s["restarts"], s["state"]) for s in after] == [(0, "running")] * 2, after
        assert not any("killed by the supervisor" in line for line in lines), [l for l in lines if "killed" in l]
