"""A hot swap whose model fails to load for lack of file descriptors (a real RLIMIT_NOFILE on the real worker
process) is 503 "retry later" only so many times in a row (MAX_TRANSIENT_LOAD_FAILURES): then 422 naming
``body.model``, the model, the count and the last error, so that a client stops retrying a model that may never fit
that machine. It was 503 forever. A success, or a failure of another model, starts the count anew; the model is
still tried each time it is asked for (it loads once the shortage is gone). Both worker kinds (the count is kept by
the worker's CommandHandler). The decoders' streams send nothing: each stalls after stall_timeout_s (1 s), and under
load while its descriptors are short; that no longer ends the worker (it did: the next swap was 409 "its worker
ended"; test_source_monitor_emfile). Real uvicorn server, real worker processes, real LSL on loopback, real model
files."""

from __future__ import annotations

import httpx
import pytest

from bci_stream.core.load_errors import MAX_TRANSIENT_LOAD_FAILURES
from support.swap_live import no_new_descriptors, running_decoder, swap_server

TOKEN = "swap-never-fits-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with swap_server(tmp_path_factory.mktemp("swap-never-fits-models"), TOKEN) as (_, c):
        yield c


def swap(client: httpx.Client, decoder_id: str, model: str) -> httpx.Response:
    return client.put(f"/decoders/{decoder_id}/model", json={"model": model})


def assert_503(r: httpx.Response) -> None:
    assert r.status_code == 503 and r.json()["retryable"] is True and "EMFILE" in r.json()["detail"], r.text


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_a_model_that_keeps_failing_to_load_is_422_after_a_few_tries(server, worker):
    client = server
    with running_decoder(client, worker) as st:
        with no_new_descriptors(st["worker"]["pid"]):
            for _ in range(MAX_TRANSIENT_LOAD_FAILURES - 1):
                assert_503(swap(client, st["id"], "tiny-ok"))
            r = swap(client, st["id"], "tiny-ok")
            assert r.status_code == 422, r.text
            assert "retry-after" not in r.headers and "retryable" not in r.json(), r.text
            detail = r.json()["detail"][0]
            assert detail["loc"] == ["body", "model"], detail
            msg = detail["msg"]
            assert msg.startswith(f"model 'tiny-ok' failed to load {MAX_TRANSIENT_LOAD_FAILURES} times in a row for "
                                  "lack of memory or file descriptors (last: EMFILE: "), msg
            assert "will not be retried automatically" in msg and "retry later" not in msg, msg
            r = swap(client, st["id"], "tiny-ok")  # still short: still refused, and the count says one more
            assert r.status_code == 422 and f"{MAX_TRANSIENT_LOAD_FAILURES + 1} times" in r.text, r.text
        now = client.get(f"/decoders/{st['id']}").json()
        # the same worker decodes on with its model: nothing crashed (its stream, silent here, is stalled once the
        # swaps outlast stall_timeout_s, 1 s: under load they do, and the stall then met the shortage too)
        assert now["state"] in ("running", "stalled") and now["restarts"] == 0, now
        assert now["worker"]["pid"] == st["worker"]["pid"], now
        assert now["model"]["name"] == "tiny-gru" and now["counters"]["swaps"] == 0, now
        r = swap(client, st["id"], "tiny-ok")  # the shortage is gone: it is tried again, and loads
        assert r.status_code == 200 and r.json()["model"]["name"] == "tiny-ok", r.text


def test_a_success_or_another_model_starts_the_count_anew(server):
    client = server
    short = MAX_TRANSIENT_LOAD_FAILURES - 1
    with running_decoder(client, "dedicated") as st:
        pid = st["worker"]["pid"]
        with no_new_descriptors(pid):
            for _ in range(short):
                assert_503(swap(client, st["id"], "tiny-ok"))
            assert_503(swap(client, st["id"], "tiny-gru"))  # another model: its first failure
            for _ in range(short):  # tiny-ok's count starts anew: as many 503s as at first
                assert_503(swap(client, st["id"], "tiny-ok"))
            assert swap(client, st["id"], "tiny-ok").status_code == 422
        assert swap(client, st["id"], "tiny-ok").status_code == 200  # a success
        with no_new_descriptors(pid):
            for _ in range(short):
                assert_503(swap(client, st["id"], "tiny-ok"))
