"""A hot swap whose model cannot be loaded now for a reason of the worker's machine (here: out of file descriptors,
EMFILE, a real limit set on the real worker process) is refused as retryable: the worker's reply says so (data,
not text), the API answers 503 with Retry-After and ``"retryable": true``, and the running model decodes on; the
same swap succeeds once the condition is gone. It was 422, as for a corrupt model, so a client never retried. Both
worker kinds (the swap runs in the worker's CommandHandler either way). Real uvicorn server, real worker processes,
real LSL on loopback, real model files."""

from __future__ import annotations

import pytest

from bci_stream.core.messages import Reply, Retry, SwapModel
from support.swap_live import no_new_descriptors, running_decoder, swap_server

TOKEN = "swap-transient-token"
WORKERS = pytest.mark.parametrize("worker", ["dedicated", "shared"])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with swap_server(tmp_path_factory.mktemp("swap-transient-models"), TOKEN) as (srv, c):
        yield srv, c


@WORKERS
def test_the_workers_refusal_says_a_retry_can_succeed(server, worker):
    srv, client = server
    with running_decoder(client, worker) as st:
        handle = srv.server.config.app.state.supervisor.get(st["id"])
        with handle.request_lock, no_new_descriptors(st["worker"]["pid"]):  # the supervisor's requests wait
            handle.next_request += 1
            command = SwapModel(model="tiny-ok", request_id=(handle.generation, handle.next_request))
            handle.cmd_conn.send(command)
            assert handle.cmd_conn.poll(60), "no reply"
            reply = handle.cmd_conn.recv()
        assert isinstance(reply, Reply) and reply.request_id == command.request_id
        assert not reply.ok and reply.retry is Retry.UNAVAILABLE and "EMFILE" in reply.error, reply
        r = client.put(f"/decoders/{st['id']}/model", json={"model": command.model})  # descriptors back
        assert r.status_code == 200, r.text
        assert r.json()["model"]["name"] == "tiny-ok" and r.json()["counters"]["swaps"] == 1


@WORKERS
def test_a_swap_the_worker_cannot_load_now_is_503_and_the_old_model_runs_on(server, worker):
    srv, client = server
    with running_decoder(client, worker) as st:
        with no_new_descriptors(st["worker"]["pid"]):
            r = client.put(f"/decoders/{st['id']}/model", json={"model": "tiny-ok"})
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"].isdigit() and int(r.headers["Retry-After"]) > 0, r.headers
        body = r.json()
        assert body["retryable"] is True and "EMFILE" in body["detail"] and "retry" in body["detail"], body
        now = client.get(f"/decoders/{st['id']}").json()
        assert now["state"] == "running" and now["model"]["name"] == "tiny-gru" and now["counters"]["swaps"] == 0
        r = client.put(f"/decoders/{st['id']}/model", json={"model": "tiny-ok"})  # the retry, descriptors back
        assert r.status_code == 200, r.text
        assert r.json()["model"]["name"] == "tiny-ok" and r.json()["counters"]["swaps"] == 1
