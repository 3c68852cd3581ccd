"""Fault 12: a hot swap to a model that reads other channels, then ``kill -9`` of the worker; the answers of state
commands, the final status of DELETE, a sender that hangs while a new instance starts, a worker that hangs.

Expected: the swap runs (no crash of the worker on its next chunk), its answer shows the new counters; the restarted
worker runs the swapped-in model into the same decoded stream (same source_id), and an LSL consumer of that stream
receives every sample the service says it published (the restarted worker waits for it to re-subscribe): every
sample sent is received or counted lost. DELETE answers with the counters of everything the worker decoded.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pylsl
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.io.session import read_session
from faults.kit import LivePusher, export_model_for, make_settings, pid_gone, start_running, status
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal, unique
from support.http import wait_status
from support.lsl import new_outlet, open_output, pull_all
from support.pacing import push_paced


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("recordings")


@pytest.fixture(scope="module")
def server(fault_models, recordings) -> Iterator[BackgroundServer]:
    export_model_for(fault_models, "half-gru", ch_names=TINY_CH_NAMES[::2], seed=11, n_layers=1)  # 4 of the 8
    with BackgroundServer(make_settings(fault_models, recordings, max_restarts=1)) as srv:
        yield srv


def test_swap_to_other_channels_then_kill_9_keeps_the_model_and_the_consumer(client, worker_kind):
    name = unique("swap-kill")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, worker=worker_kind)
    consumer = open_output(f"{name}-decoded")
    pusher = LivePusher(outlet, seed=121)
    pusher.start()
    try:
        wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 300, 60, "decoding under way")
        r = client.put(f"/decoders/{decoder_id}/model", json={"model": "half-gru"})
        assert r.status_code == 200, r.text
        swapped = r.json()
        assert swapped["model"]["name"] == "half-gru"
        assert swapped["counters"]["swaps"] == 1 and swapped["counters"]["state_epoch"] == 1  # the answer's own
        source_id = swapped["output_stream"]["source_id"]
        st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 800, 60, "decoding on")
        assert st["state"] == "running" and st["restarts"] == 0 and st["stream"]["channel_map"] == [0, 2, 4, 6]

        pid = st["pid"]
        os.kill(pid, signal.SIGKILL)
        st = wait_status(client, decoder_id, lambda s: s["restarts"] == 1 and s["state"] == "running"
                         and s["counters"].get("samples_out", 0) > 300, 90, "the restarted worker to decode")
        assert pid_gone(pid)
        assert st["model"]["name"] == "half-gru" and st["request"]["model"].startswith("half-gru@")
        assert st["output_stream"]["source_id"] == source_id
        assert st["counters"]["state_epoch"] >= 2  # the swap's, then a new state: the epoch never goes back
    finally:
        pusher.halt.set()
        pusher.join()
    n_sent = len(pusher.sent)
    st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out") == s["counters"].get("samples_in")
                     and s["state"] == "stalled", 30, "the rest decoded, then the stall")
    lost = st["counters"]["samples_lost"]
    late = st["output_stream"].get("consumer_at_first_output") is False  # the consumer not back in time
    # every row was published before this pull (samples_out == samples_in, stalled); up to 2 chunks of them may be
    # lost in flight to the kill (below): once all but those came, 2 s with nothing more ends the pull (before, it
    # waited its whole 30 s for rows that never come)
    y, ts = pull_all(consumer, n_sent - lost, timeout=10 if late else 30,
                     least=None if late else n_sent - lost - 2 * 10)
    assert np.all(np.diff(ts) > 0) and np.isin(ts, pusher.sent).all()
    if not late:  # received, or counted lost; but for the rows a kill -9 caught in the outlet's send buffer (pushed
        # on LSL, never sent: README's known limit; the ring and counters have them): once 10 in CI, the chunk just
        # before the gap
        missing = np.flatnonzero(~np.isin(pusher.sent, ts))
        assert n_sent - 2 * 10 <= len(ts) + lost <= n_sent, (len(ts), lost, n_sent)
        assert np.all(np.diff(missing) == 1), missing  # one run: the gap (counted lost) and what was in flight
    else:  # a loaded machine: the restarted worker decoded on (and warned) before liblsl re-subscribed the consumer,
        # which missed the first outputs after the samples that went by while no worker ran (counted lost): one run
        gone = np.flatnonzero(~np.isin(pusher.sent, ts))
        assert len(gone) >= lost and np.all(np.diff(gone) == 1), (len(gone), lost)
    client.delete(f"/decoders/{decoder_id}")


def test_command_answers_show_their_own_counters(client):
    name = unique("answers")
    outlet, _ = new_outlet(name, f"{name}-src")  # noqa: F841 - keeps the stream alive
    # its stream sends nothing: 'running' (checked at the end) lasts stall_timeout_s, which must outlast the requests
    decoder_id = start_running(client, name, stall_timeout_s=600)
    for k in (1, 2):
        r = client.post(f"/decoders/{decoder_id}/reset")
        assert r.status_code == 200 and r.json()["counters"]["resets"] == k and r.json()["counters"]["state_epoch"] == k
    snap = client.get(f"/decoders/{decoder_id}/state").json()
    name0 = next(iter(snap["arrays"]))
    for bad in (["a", "b"], [[1.0, 2.0], [3.0]], [{"x": 1}]):
        body = {"arrays": {**snap["arrays"], name0: bad}, "model": snap["model"]}
        r = client.put(f"/decoders/{decoder_id}/state", json=body)
        assert r.status_code == 422 and f"state array {name0!r}" in r.json()["detail"][0]["msg"], r.text
    assert status(client, decoder_id)["state"] == "running"
    client.delete(f"/decoders/{decoder_id}")


def test_delete_answers_with_the_final_counters(client, recordings, worker_kind):
    """DELETE 50 ms after the last push: its counters are those of everything the worker decoded and recorded,
    not a snapshot up to one status interval old."""
    name = unique("final")
    outlet, _ = new_outlet(name, f"{name}-src")
    path = f"{name}.xdf"
    decoder_id = start_running(client, name, worker=worker_kind, record_path=path)
    x = test_signal(2000, seed=122)
    t0 = pylsl.local_clock()
    for i in range(0, len(x), 20):
        if (wait := t0 + (i + 20) / (4 * TINY_SFREQ) - pylsl.local_clock()) > 0:
            time.sleep(wait)
        outlet.push_chunk(x[i:i + 20], (t0 + np.arange(i, i + 20) / TINY_SFREQ).tolist())
    time.sleep(0.05)
    r = client.delete(f"/decoders/{decoder_id}")
    assert r.status_code == 200, r.text
    c = r.json()["counters"]
    session = read_session(recordings / path)
    assert c["samples_in"] == c["samples_out"] == len(session.output_timestamps) > 0


def test_a_second_decoder_of_one_stream_selected_otherwise_gets_its_own_source_id(client):
    name = unique("twin")
    outlet, _ = new_outlet(name, f"{name}-src")  # noqa: F841 - keeps the stream alive
    a = start_running(client, name)
    b = start_running(client, {"source_id": f"{name}-src"}, model="tiny-gru@1.0.0")
    sids = [status(client, d)["output_stream"]["source_id"] for d in (a, b)]
    assert sids[0] != sids[1] and sids[1] == f"{sids[0]}/{b}"
    for d in (a, b):
        client.delete(f"/decoders/{d}")


def test_a_silent_sender_replaced_by_a_new_instance_is_followed(client, worker_kind):
    """The sender hangs (its outlet stays up, silent) and a new instance of the same source starts: the decoder,
    stalled, follows the new instance instead of waiting on the silent one for ever."""
    name = unique("hung-sender")
    old, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, worker=worker_kind)
    push_paced(old, test_signal(500, seed=123), TINY_SFREQ * 2, chunk=10)
    st = wait_status(client, decoder_id, lambda s: s["state"] == "stalled" and s["connected"]
                     and s["counters"].get("samples_in") == 500, 30, "stalled, connected to the silent sender")
    resumes = st["counters"]["resumes"]  # 1 if a loaded machine stalled it before the old sender's first data
    new, _ = new_outlet(name, f"{name}-src")
    assert new.wait_for_consumers(30), "the decoder did not subscribe to the new instance"
    push_paced(new, test_signal(1000, seed=124), TINY_SFREQ * 2, chunk=10)
    st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_in") == 1500, 30, "the new instance")
    assert st["counters"]["reconnects"] == 1 and st["counters"]["resumes"] == resumes + 1
    assert st["stream"]["uid"] == new.get_info().uid()
    del old
    client.delete(f"/decoders/{decoder_id}")


def test_a_hung_worker_is_listed_unresponsive(client):
    name = unique("frozen")
    outlet, _ = new_outlet(name, f"{name}-src")  # noqa: F841 - keeps the stream alive
    decoder_id = start_running(client, name, worker="dedicated")
    pid = status(client, decoder_id)["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 30
        while decoder_id not in client.get("/ready").json()["decoders_unresponsive"]:
            assert time.monotonic() < deadline, "the frozen worker was never listed unresponsive"
            time.sleep(0.2)
        assert status(client, decoder_id)["status_age_s"] > 5.0
        # three resets at once: each answered 504 within its 10 s (before: one after another, 10 s each, holding a
        # server thread while queued), and none applied once the worker goes on (before: each applied late). One
        # queued behind another says "was not sent" when its wait ends first, "did not answer" when it got the lock
        # just before its end (which comes first depends on the threads' scheduling: test_request_answers checks
        # the wait's answer itself)
        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda _: client.post(f"/decoders/{decoder_id}/reset"), range(3)))
        assert [r.status_code for r in answers] == [504] * 3, answers
        assert all("was not sent" in r.text or "did not answer 'reset' within 10 s" in r.text for r in answers), answers
    finally:
        os.kill(pid, signal.SIGCONT)
    st = wait_status(client, decoder_id, lambda s: s["status_age_s"] < 1.0, 30, "fresh status after SIGCONT")
    assert decoder_id not in client.get("/ready").json()["decoders_unresponsive"]
    time.sleep(1.0)
    st = status(client, decoder_id)
    assert st["counters"]["resets"] == 0 and st["counters"]["state_epoch"] == 0, st["counters"]
    assert client.post(f"/decoders/{decoder_id}/reset").json()["counters"]["resets"] == 1  # answered: applied
    client.delete(f"/decoders/{decoder_id}")


def test_a_new_decoder_of_a_swapped_decoders_first_model_gets_its_own_source_id(client):
    """A swapped decoder keeps its outlet (the first model's source_id); a new decoder of that first model on the
    same stream must not publish under the same source_id."""
    name = unique("swapped-twin")
    outlet, _ = new_outlet(name, f"{name}-src")  # noqa: F841 - keeps the stream alive
    a = start_running(client, name)
    assert client.put(f"/decoders/{a}/model", json={"model": "half-gru"}).status_code == 200
    b = start_running(client, name)  # tiny-gru, as a was created with
    sids = [status(client, d)["output_stream"]["source_id"] for d in (a, b)]
    assert sids[0] != sids[1] and sids[1] == f"{sids[0]}/{b}"
    for d in (a, b):
        client.delete(f"/decoders/{d}")


def test_a_stalled_decoder_whose_sender_is_gone_is_not_connected(client):
    name = unique("gone")
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name)
    push_paced(outlet, test_signal(300, seed=125), TINY_SFREQ * 2, chunk=10)
    del outlet
    wait_status(client, decoder_id, lambda s: s["state"] == "stalled", 30, "the stall")
    time.sleep(1.5)  # several source checks
    st = status(client, decoder_id)
    assert st["state"] == "stalled" and st["connected"] is False
    client.delete(f"/decoders/{decoder_id}")


def test_a_swapped_decoder_of_a_source_id_with_spaces_restarts(client):
    """An input source_id with a space and a non-ASCII letter (``bci-stream simulate --source-id "amp 1"``, a replay
    of a file whose name has one): after a hot swap the restarted worker reopens the same decoded stream. Before, the
    supervisor kept that source_id in ``options.output_source_id``, whose pattern refused it when the restarted worker
    read its spec: every restart failed, and the decoder ended in ``error`` (found by an exploratory run)."""
    name = unique("swap-space")
    outlet, _ = new_outlet(name, f"{name} amp 1 é")
    decoder_id = start_running(client, name, worker="dedicated")
    pusher = LivePusher(outlet, seed=123)
    pusher.start()
    try:
        r = client.put(f"/decoders/{decoder_id}/model", json={"model": "half-gru"})
        assert r.status_code == 200, r.text
        source_id = r.json()["output_stream"]["source_id"]
        assert source_id.startswith(f"{name} amp 1 é/decoded/")
        st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 300, 60, "decoding")
        pid = st["pid"]
        os.kill(pid, signal.SIGKILL)
        st = wait_status(client, decoder_id, lambda s: s["restarts"] == 1 and s["state"] == "running"
                         and s["counters"].get("samples_out", 0) > 100, 90, "the restarted worker to decode")
        assert st["model"]["name"] == "half-gru" and st["output_stream"]["source_id"] == source_id
    finally:
        pusher.halt.set()
        pusher.join()
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
