"""A decoder started when the API process has run out of file descriptors (a hard open-files limit under what its caps
need: ``serve`` warns of it at start) is refused with a 503 that names the limit, and nothing else is touched.

Before (audit s53cov): the start failed inside multiprocessing's fork-server handshake, after the connection to the
fork server was made: the fork server died of the half-made request (``EOFError`` in its main loop), and every
dedicated worker forked from it ended with it ("exited with code 255"): one ``POST /decoders`` too many crashed every
running decoder, and their restarts failed on the descriptors the failed start had left open (its worker's pipes).
The request itself was a 500 with a traceback in the log.

A real ``bci-stream serve`` started with a limit of :data:`FEW` descriptors, real worker processes, decoders started
until one is refused; the decoders started before it stay up, and once one is deleted a new one starts.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

import httpx
import pytest

from support.bound_port import wait_bound_port
from support.common import unique
from support.lsl import wait_for
from support.serve_process import serve_process

pytestmark = pytest.mark.timeout(240)
FEW = 64  # open files the serve is started with (about 6 per dedicated decoder in the API process)


def test_a_decoder_start_out_of_file_descriptors_is_a_503_and_the_running_decoders_stay_up(
        tmp_path: Path, models_dir: Path) -> None:
    env = dict(os.environ, BCI_STREAM_RECORDINGS_DIR=str(tmp_path), BCI_STREAM_MODELS_DIR=str(models_dir))
    env.pop("BCI_STREAM_TOKEN", None)
    name = unique("fddec")
    with serve_process(env, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (FEW, FEW))) \
            as (proc, lines):
        port = wait_bound_port(lambda: "\n".join(lines), proc)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60.0) as client:

            def post(i: int) -> httpx.Response:  # a stream that is not there: the worker waits for it
                return client.post("/decoders", json={"id": f"d{i}", "stream": {"name": f"{name}-{i}"},
                                                      "model": "tiny-gru", "options": {"worker": "dedicated",
                                                                                       "resolve_timeout": 600}})

            started, refused = [], None
            for i in range(FEW):
                r = post(i)
                if r.status_code != 201:
                    refused = r
                    break
                started.append(f"d{i}")
                wait_for(lambda: client.get(f"/decoders/d{i}").json()["state"] == "connecting", 60.0,
                         f"decoder d{i} looking for its stream")
            assert refused is not None and len(started) >= 2, "every decoder started: the limit was never reached"
            assert refused.status_code == 503 and refused.headers.get("Retry-After"), refused.text
            body = refused.json()
            assert body["retryable"] is True, body
            assert body["detail"].startswith(f"decoder d{len(started)}: its worker process could not be started: "
                                             "[Errno 24] Too many open files"), body
            assert f"its limit (RLIMIT_NOFILE) is {FEW}, hard limit {FEW}" in body["detail"], body
            assert f"d{len(started)}" not in [d["id"] for d in client.get("/decoders").json()]
            for _ in range(3):  # refused again (and again): each refusal leaves nothing open
                assert post(len(started)).status_code == 503

            # a decoder started once one is deleted: the refused starts left no descriptor open
            assert client.delete(f"/decoders/{started[0]}").status_code == 200
            r = post(len(started))
            assert r.status_code == 201, r.text
            wait_for(lambda: client.get(f"/decoders/d{len(started)}").json()["state"] == "connecting", 60.0,
                     "the new decoder looking for its stream")
            # the decoders started before the refusal were never restarted (before: all of them, at once)
            for decoder_id in started[1:]:
                st = client.get(f"/decoders/{decoder_id}").json()
                assert st["state"] == "connecting" and st["restarts"] == 0, st
            assert client.get("/health").status_code == 200
    log = "\n".join(lines)
    assert "exited with code 255" not in log and "Exception in ASGI application" not in log, log[-5000:]
