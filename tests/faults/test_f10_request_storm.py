"""Fault 10: a bounded storm of concurrent start / stop / swap / reset / state requests from several clients."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import numpy as np
import pylsl
from prometheus_client.parser import text_string_to_metric_families

from support.common import TINY_SFREQ, test_signal, unique
from faults.kit import AUTH, alive, assert_service_up, pid_gone, start_running, worker_pids
from support.http import wait_status
from support.lsl import new_outlet

N_CLIENTS = 4
OPS_PER_CLIENT = 10
#: operation -> (weight, statuses a consistent service may answer while others start/stop the same decoders)
OPS = {
    "start": (3, {201}),
    "delete": (2, {200, 404, 409}),  # 409: another client's DELETE of it under way
    "swap": (2, {200, 404, 409}),
    "reset": (1, {200, 404, 409}),
    "get_state": (1, {200, 404, 409}),
    "get": (1, {200, 404}),
    "list": (1, {200}),
}


@dataclass
class Ledger:
    """What the clients did and saw, shared between their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    created: list[str] = field(default_factory=list)
    deleted: Counter = field(default_factory=Counter)  # id -> number of 200 answers to DELETE
    pids: set[int] = field(default_factory=set)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class Feeder(threading.Thread):
    """Real-time senders (500 Hz) on a few streams, so that storm decoders connect and decode."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(daemon=True)
        self.outlets = [new_outlet(n, f"{n}-src")[0] for n in names]
        self.halt = threading.Event()

    def run(self) -> None:
        x = test_signal(int(TINY_SFREQ), seed=110)
        t0, i = pylsl.local_clock(), 0
        while not self.halt.is_set():
            ts = t0 + np.arange(i, i + 10) / TINY_SFREQ
            wait = ts[-1] - pylsl.local_clock()
            if wait > 0:
                time.sleep(wait)
            chunk = x[i % len(x) : i % len(x) + 10]
            for o in self.outlets:
                o.push_chunk(chunk, ts.tolist())
            i += 10


def client_thread(url: str, seed: int, streams: list[str], ledger: Ledger) -> None:
    rng = random.Random(seed)
    names, weights = list(OPS), [w for w, _ in OPS.values()]
    with httpx.Client(base_url=url, timeout=120.0, headers=AUTH) as c:
        for k in range(OPS_PER_CLIENT):
            op = "start" if k == 0 else rng.choices(names, weights)[0]
            with ledger.lock:
                target = rng.choice(ledger.created) if ledger.created else "nope"
            try:
                if op == "start":
                    stream = rng.choice([*streams, unique("absent")])  # some never appear: 'connecting'
                    r = c.post("/decoders", json={"stream": {"name": stream}, "model": rng.choice(
                        ["tiny-gru", "tiny-gru-b"])})
                    if r.status_code == 201:
                        with ledger.lock:
                            ledger.created.append(r.json()["id"])
                elif op == "delete":
                    r = c.delete(f"/decoders/{target}")
                    if r.status_code == 200:
                        with ledger.lock:
                            ledger.deleted[target] += 1
                            ledger.pids.add(r.json()["pid"])
                elif op == "swap":
                    r = c.put(f"/decoders/{target}/model", json={"model": rng.choice(["tiny-gru", "tiny-gru-b"])})
                elif op == "reset":
                    r = c.post(f"/decoders/{target}/reset")
                elif op == "get_state":
                    r = c.get(f"/decoders/{target}/state")
                elif op == "get":
                    r = c.get(f"/decoders/{target}")
                    if r.status_code == 200 and r.json()["pid"]:
                        with ledger.lock:
                            ledger.pids.add(r.json()["pid"])
                else:
                    r = c.get("/decoders")
            except httpx.HTTPError as exc:
                with ledger.lock:
                    ledger.failures.append(f"{op} {target}: {exc!r}")
                continue
            with ledger.lock:
                ledger.calls.append((op, target, r.status_code))
                if r.status_code not in OPS[op][1]:
                    ledger.failures.append(f"{op} {target} -> {r.status_code} {r.text[:300]}")


def test_concurrent_start_stop_swap_storm(client, server):
    """Three decoders run; then four clients issue 40 requests at once, mixed: start decoders (on live
    streams and on streams that never appear), delete them (also twice, also each other's), hot-swap
    their models, reset them, read their state and status. Expected: no 5xx and no hang, only answers
    that fit the decoder's life at that moment (201; 200/404/409 for delete; 200/404/409 for swap, reset
    and state); afterwards the supervisor's view is consistent: the listed decoders are exactly those
    created and not deleted, each deleted exactly once, each listed one has a live worker process and
    each live worker belongs to a listed decoder, /status and /metrics agree; after deleting the rest,
    every worker process that ever ran is gone (reaped), and the service is up and empty."""
    streams = [unique("storm") for _ in range(3)]
    feeder = Feeder(streams)
    feeder.start()
    baseline = worker_pids()
    ledger = Ledger()
    ledger.created.extend(start_running(client, name) for name in streams)  # targets from the start
    threads = [threading.Thread(target=client_thread, args=(server.url, 1000 + i, streams, ledger))
               for i in range(N_CLIENTS)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        assert not any(t.is_alive() for t in threads), "a client hung"
        assert not ledger.failures, "\n".join(ledger.failures)
        assert len(ledger.calls) == N_CLIENTS * OPS_PER_CLIENT
        assert all(n == 1 for n in ledger.deleted.values()), ledger.deleted

        # the supervisor's view, once the storm is over
        remaining = set(ledger.created) - set(ledger.deleted)
        listed = {d["id"]: d for d in client.get("/decoders").json()}
        assert set(listed) == remaining
        for decoder_id in remaining:
            st = wait_status(client, decoder_id, lambda s: s["state"] in ("running", "connecting"), 120, "settling")
            listed[decoder_id] = st
            assert st["restarts"] == 0 and st["exit_code"] is None, st
            assert alive(st["pid"]), st
            ledger.pids.add(st["pid"])
        assert worker_pids() - baseline == {d["pid"] for d in listed.values()}
        for decoder_id in ledger.deleted:
            assert client.get(f"/decoders/{decoder_id}").status_code == 404
        status = client.get("/status").json()
        assert status["n_decoders"] == len(remaining) and {d["id"] for d in status["decoders"]} == remaining
        families = text_string_to_metric_families(client.get("/metrics").text)
        metric_ids = {s.labels["decoder_id"] for f in families if f.name == "bci_stream_decoder_state"
                      for s in f.samples}
        assert metric_ids == remaining

        for decoder_id in remaining:
            r = client.delete(f"/decoders/{decoder_id}")
            assert r.status_code == 200 and r.json()["state"] == "stopped", r.text
        assert client.get("/decoders").json() == []
        assert all(pid_gone(pid) for pid in ledger.pids), [p for p in ledger.pids if alive(p)]
        assert worker_pids() <= baseline
    finally:
        feeder.halt.set()
        feeder.join()
    assert_service_up(client)
    codes = Counter(code for _, _, code in ledger.calls)
    assert codes[201] >= N_CLIENTS and codes[200] > 0, codes  # the storm did start, stop and change decoders


def test_commands_to_decoders_that_are_still_starting(client, server):
    """Four decoders are started at once and, before they run, each gets a reset, a state read and a
    hot swap from concurrent clients. Expected: an answer that fits, without waiting out a timeout:
    the command is done (200) or refused because the worker does not take commands yet or is not
    connected (409 saying so); never a 5xx such as 504 'did not answer' (a refused command must not
    be carried out later either: ``resets`` stays 0 when the reset was refused)."""
    stream = unique("early")
    outlet, _ = new_outlet(stream, f"{stream}-src")  # noqa: F841 - keeps the stream alive
    ids = [client.post("/decoders", json={"stream": {"name": stream}, "model": "tiny-gru"}).json()["id"]
           for _ in range(4)]
    answers: dict[tuple[str, str], httpx.Response] = {}

    def hit(decoder_id: str, op: str) -> None:
        with httpx.Client(base_url=server.url, timeout=120.0, headers=AUTH) as c:
            if op == "reset":
                answers[(decoder_id, op)] = c.post(f"/decoders/{decoder_id}/reset")
            elif op == "state":
                answers[(decoder_id, op)] = c.get(f"/decoders/{decoder_id}/state")
            else:
                answers[(decoder_id, op)] = c.put(f"/decoders/{decoder_id}/model", json={"model": "tiny-gru-b"})

    threads = [threading.Thread(target=hit, args=(d, op)) for d in ids for op in ("reset", "state", "swap")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = {k: (r.status_code, r.text[:200]) for k, r in answers.items() if r.status_code not in (200, 409)}
    assert not bad, bad
    for decoder_id in ids:
        wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled"), 120, "running")
        time.sleep(0.5)  # a command the worker found late in its pipe would be done by now
        st = client.get(f"/decoders/{decoder_id}").json()
        assert st["counters"]["resets"] == (answers[(decoder_id, "reset")].status_code == 200), (decoder_id, st)
        assert st["counters"]["swaps"] == (answers[(decoder_id, "swap")].status_code == 200), (decoder_id, st)
        assert client.delete(f"/decoders/{decoder_id}").status_code == 200
    assert_service_up(client)


def test_concurrent_deletes_of_one_decoder(client, server):
    """Three clients DELETE the same running decoder at the same moment. Expected: exactly one gets 200
    with the final status (``stopped``); the others get 409 while it is being stopped (404 only once it is
    gone: before, 404 also while it was still listed, ``running``); its worker process ends; the service stays up."""
    stream = unique("twice")
    outlet, _ = new_outlet(stream, f"{stream}-src")  # noqa: F841 - keeps the stream alive
    decoder_id = start_running(client, stream)
    pid = client.get(f"/decoders/{decoder_id}").json()["pid"]
    go = threading.Barrier(3)
    codes: list[int] = []

    def delete() -> None:
        with httpx.Client(base_url=server.url, timeout=60.0, headers=AUTH) as c:
            go.wait()
            codes.append(c.delete(f"/decoders/{decoder_id}").status_code)

    threads = [threading.Thread(target=delete) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes)[0] == 200 and sorted(codes)[1:] in ([404, 404], [404, 409], [409, 409]), codes
    assert pid_gone(pid) and client.get(f"/decoders/{decoder_id}").status_code == 404
    assert_service_up(client)
