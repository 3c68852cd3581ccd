"""Fault 18: requests to a decoder while its stop (a DELETE) is under way. Found by an audit: a second DELETE and
``GET /decoders/{id}/state`` answered 404 "decoder not found" while ``GET /decoders/{id}`` answered 200 with state
``running`` and the decoder was still listed. Now: state ``stopping`` while the stop waits, 409 (saying it is being
stopped) to a second DELETE and to every command, 404 only once it is gone."""

from __future__ import annotations

import contextlib
import os
import signal
import threading

import httpx

from support.common import unique
from faults.kit import AUTH, assert_service_up, start_running, status
from support.http import wait_status
from support.lsl import new_outlet


def test_requests_while_a_delete_waits_for_a_hung_worker(client, server, worker_kind):
    """The decoder's worker is stopped (SIGSTOP), so a DELETE waits its 5 s for it (then kills it). Meanwhile:
    the decoder is listed and its status says ``stopping`` (also in /metrics); a second DELETE, a reset, a state read
    or restore and a hot swap are 409 saying it is being stopped. The first DELETE answers its final status
    (``stopped``); then every one of them is 404."""
    name = unique("stopping")
    outlet, _ = new_outlet(name, f"{name}-src")  # noqa: F841 - keeps the stream alive
    decoder_id = start_running(client, name, worker=worker_kind, output_name=f"{name}-out")
    pid = status(client, decoder_id)["worker"]["pid"]
    url = f"/decoders/{decoder_id}"
    first: dict[str, httpx.Response] = {}

    def delete() -> None:
        with httpx.Client(base_url=server.url, timeout=120.0, headers=AUTH) as c:
            first["answer"] = c.delete(url)

    calls = {
        "DELETE": lambda: client.delete(url),
        "reset": lambda: client.post(f"{url}/reset"),
        "GET state": lambda: client.get(f"{url}/state"),
        "PUT state": lambda: client.put(f"{url}/state", json={"arrays": {}, "model": {"sha256": "0" * 64}}),
        "swap": lambda: client.put(f"{url}/model", json={"model": "tiny-gru-b"}),
    }
    os.kill(pid, signal.SIGSTOP)
    thread = threading.Thread(target=delete)
    try:
        thread.start()
        wait_status(client, decoder_id, lambda s: s["state"] == "stopping", 30, "the stop to begin")
        answers = {what: call() for what, call in calls.items()}
        again = client.post("/decoders", json={"id": decoder_id, "stream": {"name": name}, "model": "tiny-gru"})
        listed = {d["id"]: d["state"] for d in client.get("/decoders").json()}
        metrics = client.get("/metrics").text
        still = status(client, decoder_id)
    finally:
        thread.join(120)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    assert not thread.is_alive()
    assert listed.get(decoder_id) == "stopping" and still["state"] == "stopping", (listed, still["state"])
    assert (f'bci_stream_decoder_state{{decoder_id="{decoder_id}",model="tiny-gru",state="stopping"}} 1.0'
            in metrics)
    for what, r in answers.items():
        assert r.status_code == 409, (what, r.status_code, r.text)
        assert f"decoder {decoder_id} is being stopped" in r.json()["detail"], (what, r.text)
        assert "retryable" not in r.json(), (what, r.text)
    assert "it takes no second stop (DELETE)" in answers["DELETE"].json()["detail"]  # (before: "takes a second")
    assert again.status_code == 409 and "POST again once it is gone (404)" in again.json()["detail"], again.text
    final = first["answer"]
    assert final.status_code == 200 and final.json()["state"] == "stopped", final.text
    assert final.json()["exit_code"] == -9, final.text  # the hung worker was killed, and the answer says why
    assert f"pid {pid}" in final.json()["last_error"] and "(hung" in final.json()["last_error"], final.text
    for what, call in calls.items():
        r = call()
        assert r.status_code == 404, (what, r.status_code, r.text)
    assert client.get(url).status_code == 404
    assert_service_up(client)


def test_two_deletes_at_once(client, server, worker_kind):
    """Two DELETEs of a running decoder sent at once. Expected: exactly one 200 with its final status (``stopped``,
    ``exit_code`` 0); the other 409 (being stopped), or 404 only once the decoder is gone (no longer listed: it never
    says "not found" of a decoder still listed)."""
    name = unique("twodel")
    outlet, _ = new_outlet(name, f"{name}-src")  # noqa: F841 - keeps the stream alive
    decoder_id = start_running(client, name, worker=worker_kind, output_name=f"{name}-out")
    barrier = threading.Barrier(2)
    answers: list[tuple[int, dict, bool | None]] = []
    lock = threading.Lock()

    def delete() -> None:
        with httpx.Client(base_url=server.url, timeout=120.0, headers=AUTH) as c:
            barrier.wait(30)
            r = c.delete(f"/decoders/{decoder_id}")
            listed = None
            if r.status_code == 404:  # at once: was it still listed when "not found" was said?
                listed = decoder_id in {d["id"] for d in c.get("/decoders").json()}
            with lock:
                answers.append((r.status_code, r.json(), listed))

    threads = [threading.Thread(target=delete) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(answers) == 2, answers
    answers.sort(key=lambda a: a[0])
    (code, final, _), (other, said, listed) = answers
    assert code == 200 and final["state"] == "stopped" and final["exit_code"] == 0, answers
    assert other == 409 or (other == 404 and listed is False), answers
    if other == 409:
        assert f"decoder {decoder_id} is being stopped" in said["detail"], said
    assert client.get(f"/decoders/{decoder_id}").status_code == 404
    assert_service_up(client)
