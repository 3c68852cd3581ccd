"""Fault 15b: the pins folder (``BCI_STREAM_PINS_DIR``) cannot be written (a file in its place; a full or read-only
disk fails the same way), so no decoder gets its own copy of its model; then the registry's folder of a running
decoder's model is replaced and its worker is killed (found by an exploratory run).

Before: the restarted worker silently ran the registry's new bytes under the decoder's id and decoded source_id, and
a hot swap answered 500 (the swap had happened; the decoder's request kept the old model, to which the next restart
went back). Now the swap answers 200 (status ``model.pinned`` false), and a restart whose registry model is other
bytes than the decoder ran ends in ``error`` (final) saying why; with the same bytes it runs on.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import httpx
import pytest

from faults.kit import AUTH, SHARED_WORKERS, TOKEN, LivePusher, pid_gone, start_running
from support.bound_port import listening_port
from support.common import unique
from support.http import wait_status
from support.lsl import new_outlet
from support.serve_process import serve_process
from faults.test_f15_model_replaced_then_restart import export, replace_folder


@pytest.fixture()
def unwritable(tmp_path) -> Iterator[httpx.Client]:
    """A ``bci-stream serve`` of its own (max_restarts 2) whose pins folder is a regular file; the registry in
    ``tmp_path / "models"``. A process of its own: a worker gets its environment from the service's fork server,
    started once per process with the environment of that moment, so a pins folder set in this test process would
    reach none of its workers if an earlier test had started that fork server, and every later test's if none had."""
    pins = tmp_path / "pins-is-a-file"
    pins.write_text("not a folder")
    models = tmp_path / "models"
    export(models, "m", "1.0.0", seed=1)
    export(models, "swap-m", "1.0.0", seed=3)
    env = dict(os.environ, BCI_STREAM_PINS_DIR=str(pins), BCI_STREAM_MODELS_DIR=str(models),
               BCI_STREAM_RECORDINGS_DIR=str(tmp_path / "recordings"), BCI_STREAM_MAX_RESTARTS="2",
               BCI_STREAM_RESTART_BACKOFF="0.2", BCI_STREAM_STATUS_INTERVAL="0.1", BCI_STREAM_TOKEN=TOKEN,
               BCI_STREAM_SHARED_WORKERS=str(SHARED_WORKERS))
    with serve_process(env) as (proc, _), \
            httpx.Client(base_url=f"http://127.0.0.1:{listening_port(proc.pid)}", timeout=60.0, headers=AUTH) as client:
        client.models = models  # type: ignore[attr-defined]
        yield client


def killed(client: httpx.Client, decoder_id: str) -> dict:
    """``kill -9`` of its decoding worker; its status once restarted and decoding, or in ``error``."""
    st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 200, 60, "decoding")
    pid, before, restarts = st["pid"], st["counters"]["samples_out"], st["restarts"]
    os.kill(pid, signal.SIGKILL)
    # a restart of this kill (not the one before: a status the killed worker sent before it died may still arrive,
    # with its counters ahead of ``before`` on a loaded machine), decoding in a process of its own
    st = wait_status(client, decoder_id, lambda s: s["state"] == "error" or (
        s["restarts"] > restarts and s["pid"] != pid and s["state"] == "running"
        and s["counters"].get("samples_out", 0) > before + 100), 90, "the restart to decode, or to fail")
    assert pid_gone(pid)
    return st


def test_without_a_copy_a_restart_never_runs_other_bytes_and_a_swap_answers(unwritable, worker_kind):
    client = unwritable
    names = [unique("f15b-a"), unique("f15b-b")]
    outlets = [new_outlet(n, f"{n}-src")[0] for n in names]
    swapped_id, plain_id = (start_running(client, n, model="m", worker=worker_kind) for n in names)
    pushers = [LivePusher(o, seed=153 + i) for i, o in enumerate(outlets)]
    for p in pushers:
        p.start()
    try:
        st = wait_status(client, plain_id, lambda s: s["counters"].get("samples_out", 0) > 100, 60, "decoding")
        sha = st["model"]["sha256"]
        assert st["model"]["pinned"] is False
        st = killed(client, plain_id)  # the registry unchanged: the same bytes, it runs on
        assert st["state"] == "running" and st["model"]["sha256"] == sha
        r = client.put(f"/decoders/{swapped_id}/model", json={"model": "swap-m"})
        assert r.status_code == 200, r.text  # before: 500 (the pins folder's error raised again)
        assert r.json()["model"]["pinned"] is False and r.json()["request"]["model"] == "swap-m@1.0.0"
        replace_folder(client.models, "m", "1.0.1", seed=2)  # "m" is other bytes now
        st = killed(client, plain_id)
        assert st["state"] == "error", (st["state"], st["model"])  # before: running m@1.0.1 under its id
        assert f"ran model 'm' (sha256 {sha}) and has no copy of it" in st["last_error"], st["last_error"]
        assert "POST the decoder again" in st["last_error"]
        replace_folder(client.models, "swap-m", "1.0.1", seed=4)
        st = killed(client, swapped_id)  # its request names swap-m@1.0.0, gone: refused, never m (before) nor 1.0.1
        assert st["state"] == "error" and "'swap-m@1.0.0' not found" in st["last_error"], st["last_error"]
    finally:
        for p in pushers:
            p.halt.set()
            p.join()
    for decoder_id in (swapped_id, plain_id):
        assert client.delete(f"/decoders/{decoder_id}").status_code == 200
