"""Fault 23: a worker hangs while its decoder runs (``SIGSTOP`` stands in for a deadlock in native code or a write
blocked on a dead mount) and nobody deletes it. Before, ``/ready`` listed it in ``decoders_unresponsive`` and that
was all: the decoder stayed dead until a person noticed. Now the supervisor kills a worker that sent no status for
``hung_kill_s`` (60 s by default; 5 s here, the least it may be) and restarts it as after a crash: from its last state for a shared
worker's decoders, the samples missed meanwhile counted lost, ``last_error`` saying why.

A real service in this process, real LSL, real worker processes."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import pytest

from bci_stream.api.server import BackgroundServer
from support.common import TINY_SFREQ, test_signal, unique
from faults.kit import LivePusher, assert_service_up, make_settings, pid_gone, start_running, supervisor_of
from support.http import wait_status
from support.lsl import new_outlet

LIMIT_S = 5.0


@pytest.fixture(scope="module")
def server(fault_models, tmp_path_factory) -> Iterator[BackgroundServer]:
    """One shared worker (both shared decoders of a test on it); a worker silent for 5 s is hung."""
    settings = make_settings(fault_models, tmp_path_factory.mktemp("recordings"), shared_workers=1, max_restarts=2,
                             hung_kill_s=LIMIT_S)
    with BackgroundServer(settings) as srv:
        assert supervisor_of(srv).hung_kill_s == LIMIT_S
        yield srv


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


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
            assert "sent no status" in st["last_error"] and f"the limit is {LIMIT_S:g} s): killed by the " \
                "supervisor" in st["last_error"], st["last_error"]
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
