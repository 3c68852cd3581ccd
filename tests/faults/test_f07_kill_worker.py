"""Fault 7: ``kill -9`` of a decoder's worker process mid-stream."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator

import numpy as np
import pytest

from bci_stream.api.server import BackgroundServer
from support.common import unique
from faults.kit import (LivePusher, WsReader, assert_service_up, fork_servers, kill_and_restarted, make_settings,
                        pid_ended, pid_gone, start_running, status, ws_url)
from support.http import wait_status
from support.lsl import new_outlet


@pytest.fixture(scope="module")
def server(fault_models, tmp_path_factory) -> Iterator[BackgroundServer]:
    settings = make_settings(fault_models, tmp_path_factory.mktemp("recordings"), max_restarts=1)
    with BackgroundServer(settings) as srv:
        yield srv


def test_kill_9_mid_stream_is_reported_restarted_and_the_loss_counted(client, server, worker_kind):
    """``kill -9`` of the worker while the stream flows in real time. Expected: the supervisor notices
    the death, reports it (``last_error`` names the pid and signal 9), and starts a new worker process
    (``restarts`` = 1) that reconnects and decodes on, into the same output ring. The samples that went
    by while no worker was decoding are destroyed by the fault; the new worker counts them: one gap,
    and ``samples_lost`` = the samples between the last output of the killed worker and its own first
    input. So every sample sent is either an output (over WS, in order, once) or counted lost. The
    killed process is reaped. A second ``kill -9`` after ``max_restarts`` (1 here) leaves the decoder
    in ``error`` with no further restart; the service stays up throughout. The same for both worker kinds: a
    killed shared worker's decoder is placed on a new shared worker, from its last state snapshot."""
    name = unique("kill")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, outputs_buffer_s=60, worker=worker_kind)
    ws = WsReader(ws_url(server.url, decoder_id))
    pusher = LivePusher(outlet, seed=107)
    try:
        ws.start()
        pusher.start()
        first_pid = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 500, 60,
                                "decoding under way")["pid"]
        st = kill_and_restarted(client, decoder_id, first_pid)
        assert st["last_error"] == f"worker process {first_pid} exited with code -9 (signal 9)"
        assert pid_gone(first_pid), "the killed worker was not reaped"
        pusher.halt.set()
        pusher.join()
        n_sent = len(pusher.sent)
        st = wait_status(client, decoder_id, lambda s: len(ws.seq) + s["counters"].get("samples_lost", 0) >= n_sent
                         and s["counters"].get("samples_out") == s["counters"].get("samples_in"), 30,
                         "every sample to be decoded or counted lost")
        c = st["counters"]
        t = np.asarray(ws.t)
        assert ws.dropped == 0
        assert np.all(np.diff(t) > 0) and np.isin(t, pusher.sent).all()  # in order, once, only what was sent
        assert c["gaps"] == 1 and c["samples_lost"] > 0
        assert len(t) + c["samples_lost"] == n_sent, (len(t), c["samples_lost"], n_sent)
        assert c["samples_in"] == c["samples_out"] and st["state"] in ("running", "stalled")

        second_pid = st["pid"]
        os.kill(second_pid, signal.SIGKILL)
        st = wait_status(client, decoder_id, lambda s: s["exit_code"] == -9, 30, "the second death")
        time.sleep(2.0)  # longer than the restart backoff: no restart may come
        st = status(client, decoder_id)
        assert st["state"] == "error" and st["restarts"] == 1 and st["pid"] == second_pid
        assert st["last_error"] == (f"worker process {second_pid} exited with code -9 (signal 9); not restarted: its "
                                    "restarts are used up (1/1 since it last ran healthy, 60 s in a row; settings "
                                    "max_restarts, restart_reset_s): it stays in error until deleted")
        assert pid_gone(second_pid)
        assert f'bci_stream_decoder_restarts_total{{decoder_id="{decoder_id}",model="tiny-gru"}} 1.0' in \
            client.get("/metrics").text
    finally:
        pusher.halt.set()
        ws.close()
    assert_service_up(client)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_kill_9_of_the_fork_server_restarts_its_workers_as_a_crash_does(client, server):
    """``kill -9`` of the fork server the local workers are forked from (its own process: killed by hand or by the
    out-of-memory killer). Its workers' exit statuses are lost with it (multiprocessing then reports 255) and each
    worker, its parent gone, stops itself. Expected: as after a worker's crash, a dedicated and a shared decoder are
    each restarted once, from a new fork server, in new processes (the old ones end: no decoder runs twice), say
    why in ``last_error``, and decode on with the samples in between counted lost; the service stays up."""
    name = unique("forksrv")
    outlet, _ = new_outlet(name, f"{name}-src")
    ids = [start_running(client, name, worker=kind, output_name=f"{name}-{kind}", outputs_buffer_s=60)
           for kind in ("dedicated", "shared")]
    readers = {i: WsReader(ws_url(server.url, i)) for i in ids}
    pusher = LivePusher(outlet, seed=109)
    try:
        for ws in readers.values():
            ws.start()
        pusher.start()
        before = {i: wait_status(client, i, lambda s: s["counters"].get("samples_out", 0) > 200, 60,
                                 "decoding under way") for i in ids}
        servers = fork_servers()
        assert servers, "no fork server: the local workers were not forked from one"
        for pid in servers:
            os.kill(pid, signal.SIGKILL)
        after = {i: wait_status(client, i, lambda s, old=before[i]["pid"]: s["restarts"] == 1 and s["pid"] != old
                                and s["counters"].get("samples_out", 0) > 200, 90, "the restarted worker to decode")
                 for i in ids}
        pusher.halt.set()
        pusher.join()
        n_sent = len(pusher.sent)
        for i, ws in readers.items():
            old = before[i]["pid"]
            assert after[i]["pid"] != old and pid_ended(old), f"worker {old} of decoder {i} still runs"
            # the worker's exit status lost with the server, or a shared worker's own word (whichever came first)
            assert re.fullmatch(
                rf"worker process {old} exited with code 255 \(or the fork server it was started from ended: its exit "
                r"status is lost with it, and the worker stops itself when its parent goes\)"
                rf"|decoder {i} ended with code 1 in shared worker pid {old}: shared worker \d+: its parent process "
                r"\d+ ended \(the service's fork server, killed\?\); its streams are restarted elsewhere",
                after[i]["last_error"]), after[i]["last_error"]
            st = wait_status(client, i, lambda s, ws=ws: len(ws.seq) + s["counters"].get("samples_lost", 0) >= n_sent
                             and s["counters"].get("samples_out") == s["counters"].get("samples_in"), 30,
                             "every sample decoded or counted lost")
            t = np.asarray(ws.t)
            assert ws.dropped == 0 and np.all(np.diff(t) > 0) and np.isin(t, pusher.sent).all()
            assert st["counters"]["samples_lost"] > 0 and st["state"] in ("running", "stalled"), st
            assert len(t) + st["counters"]["samples_lost"] == n_sent, (len(t), st["counters"], n_sent)
    finally:
        pusher.halt.set()
        for ws in readers.values():
            ws.close()
    assert fork_servers() - servers, "no new fork server for the restarted workers"
    assert_service_up(client)
    for i in ids:
        assert client.delete(f"/decoders/{i}").status_code == 200

