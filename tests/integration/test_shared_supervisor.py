"""Shared decoders through the supervisor: placement, commands and status per decoder, a worker's kill -9.

Real LSL on loopback, real shared worker processes, real onnxruntime.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np

from bci_stream.core.messages import GetState, Reset
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.engine.offline import decode_offline
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, open_output, pull_all, wait_for
from support.pacing import PacedPusher, push_paced


def start(sup: Supervisor, name: str, model: str = "tiny-gru", **options):
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": model,
                                       "options": {"worker": "shared", **options}})
    card = ModelRegistry(sup.models_dir).get(model).card
    return sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)


def running(handles) -> None:
    wait_for(lambda: all(h.status.state == "running" for h in handles), 60, "every decoder to be running")


def test_eight_shared_decoders_in_one_worker_through_the_supervisor(models_dir):
    """shared_workers=1: 8 decoders (two models) all run in one process (status 'worker' says which), each
    decodes in == out equal to offline; per-decoder commands (GetState, Reset) answer for that decoder alone;
    stopping one leaves the others running; a decoder that asks for a dedicated worker still gets a process of
    its own, whatever the default kind."""
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=0, shared_workers=1)
    try:
        reg = ModelRegistry(models_dir)
        n = 1000
        names = [unique(f"sup{i}") for i in range(8)]
        outlets = [new_outlet(nm, f"{nm}-src")[0] for nm in names]
        models = ["tiny-gru" if i % 2 == 0 else "tiny-lstm" for i in range(8)]
        handles = [start(sup, nm, m) for nm, m in zip(names, models)]
        running(handles)
        pids = {h.status.worker["pid"] for h in handles}
        assert len(pids) == 1 and {h.status.worker["kind"] for h in handles} == {"shared"}
        assert {h.status.worker["index"] for h in handles} == {0}
        outs = [open_output(f"{nm}-decoded") for nm in names]
        xs = [test_signal(n, seed=100 + i) for i in range(8)]
        threads = [threading.Thread(target=push_paced, args=(o, x, TINY_SFREQ * 2, 5 + i), daemon=True)
                   for i, (o, x) in enumerate(zip(outlets, xs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for out, x, m, h in zip(outs, xs, models, handles):
            y, _ = pull_all(out, n, timeout=60)
            assert len(y) == n
            np.testing.assert_allclose(y, decode_offline(reg.get(m), x), atol=1e-5)
            wait_for(lambda: h.status.counters.samples_out == n, 10, "the counters")
        snap = sup.request(handles[1].id, GetState())
        assert snap.model["name"] == "tiny-lstm" and snap.seq == n
        changed = sup.request(handles[0].id, Reset())
        assert changed.state_epoch == 1
        wait_for(lambda: handles[0].status.counters.resets == 1, 10, "the reset to show")
        assert all(h.status.counters.resets == 0 for h in handles[1:])
        stopped = sup.stop(handles[2].id)
        assert stopped is not None and stopped.exit_code == 0
        time.sleep(0.5)
        assert all(h.status.state in ("running", "stalled") and h.exit_code is None for h in handles[:2] + handles[3:])
        assert sup.pool.workers[0].process.pid in pids
        dedicated = sup.start(DecoderSpec.model_validate({"stream": {"name": names[0]}, "model": "tiny-gru",
                                                          "options": {"worker": "dedicated"}}))
        wait_for(lambda: dedicated.status.state == "running", 60, "the dedicated decoder")
        assert dedicated.status.worker["kind"] == "dedicated" and dedicated.status.pid not in pids
    finally:
        sup.shutdown()


def Pusher(outlet, seed: int) -> PacedPusher:  # noqa: N802 - reads as the thread it returns
    """Real-time pushing of a 60 s test signal in 10-sample chunks until halted."""
    return PacedPusher(outlet, test_signal(60 * int(TINY_SFREQ), seed=seed), TINY_SFREQ)


def test_kill_9_of_a_shared_worker_resumes_its_streams_with_their_state(models_dir):
    """shared_workers=2, four decoders: two per worker (least loaded first). kill -9 of worker 0: the
    supervisor reports it for each of its decoders, re-adds both to a new worker process with the state
    snapshot they last sent (status worker.restored_seq), and each counts the gap; both decode on into the
    same output ring, their state_epoch one more than before (restoring the snapshot is that same new state).
    The two decoders of the other worker are untouched (no restart, same pid)."""
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=1, restart_backoff=0.2, shared_workers=2)
    pushers = []
    try:
        names = [unique(f"kill{i}") for i in range(4)]
        outlets = [new_outlet(nm, f"{nm}-src")[0] for nm in names]
        handles = [start(sup, nm, snapshot_interval_s=0.2, outputs_buffer_s=60) for nm in names]
        running(handles)
        by_index = {}
        for h in handles:
            by_index.setdefault(h.status.worker["index"], []).append(h)
        assert sorted(len(v) for v in by_index.values()) == [2, 2]
        pushers = [Pusher(o, seed=200 + i) for i, o in enumerate(outlets)]
        for p in pushers:
            p.start()
        wait_for(lambda: all(h.status.counters.samples_out > 500 and h.saved is not None for h in handles), 60,
                 "decoding under way, with state snapshots")
        victims, others = by_index[0], by_index[1]
        seen: list[tuple[int, str, dict]] = []  # every status the supervisor takes of a victim
        for h in victims:
            def take_status(generation, snapshot, take=h.take_status):
                seen.append((generation, snapshot.state, dict(snapshot.worker or {})))
                take(generation, snapshot)
            h.take_status = take_status
        pid = victims[0].status.worker["pid"]
        other_pid = others[0].status.worker["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: all(h.restarts == 1 and h.status.state == "running" and h.status.worker["pid"] != pid
                             and h.status.counters.samples_out > 200 for h in victims), 90,
                 "the killed worker's decoders to decode again in a new worker")
        for h in victims:
            assert h.last_error == f"worker process {pid} exited with code -9 (signal 9)"
            assert h.status.worker.get("restored_seq") is not None
            c = h.status.counters
            assert c.gaps >= 1 and c.samples_lost > 0
            assert c.state_epoch == 1  # the last published epoch (0) + 1, as a dedicated worker's restart
        # never 'running' before its state is restored (a status said so, with no restored_seq yet: the Ray test's
        # node loss, once, under load)
        restarted = [worker for generation, state, worker in seen if generation == 2 and state == "running"]
        assert len(restarted) >= 2 and all("restored_seq" in worker for worker in restarted), restarted
        assert all(h.restarts == 0 and h.status.worker["pid"] == other_pid and h.status.state == "running"
                   for h in others)
        reader = sup.reader(victims[0].id)
        assert reader is not None
    finally:
        for p in pushers:
            p.halt.set()
        sup.shutdown()


def test_supervision_survives_decoders_stopped_while_their_status_flows(models_dir):
    """Stopping many shared decoders at once, from several threads, while their workers keep sending status and
    snapshots (and workers left empty stop), closes pipes the monitor thread may be reading: the supervisor
    must go on supervising (a bench run once lost its monitor thread this way, and every later decoder stayed
    'starting')."""
    sup = Supervisor(str(models_dir), status_interval=0.02, max_restarts=0, shared_workers=2)
    try:
        for _round in range(3):
            names = [unique(f"churn{i}") for i in range(8)]
            outlets = [new_outlet(nm, f"{nm}-src")[0] for nm in names]
            handles = [start(sup, nm, snapshot_interval_s=0.05) for nm in names]
            running(handles)
            threads = [threading.Thread(target=sup.stop, args=(h.id,), daemon=True) for h in handles]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert sup.alive and sup.list() == []
            del outlets
        name = unique("after-churn")
        outlet, _ = new_outlet(name, f"{name}-src")
        handle = start(sup, name)
        running([handle])
        assert sup.alive
    finally:
        sup.shutdown()
