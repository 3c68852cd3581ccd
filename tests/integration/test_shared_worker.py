"""One shared worker process hosting many streams, driven over its control pipe as the supervisor drives it.

Real LSL outlets on loopback, a real worker process (spawned), real onnxruntime. Each stream's outputs
are compared with the same samples decoded alone offline; one stream's trouble (NaN flood, a source that
comes back with another channel count, a source that vanishes, a hot swap) must leave the others'
outputs unchanged.
"""

from __future__ import annotations

import multiprocessing as mp
import threading

import numpy as np
import pytest

from bci_stream.core.messages import Reply, SwapModel
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.engine.offline import decode_offline
from bci_stream.service.pool_messages import AddStream, SavedState, StopWorker, StreamEnded
from bci_stream.service.worker_entry import shared_worker_main
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, open_output, pull_all, pull_all_each, wait_for
from support.pacing import push_paced


class Hosted:
    """The test's end of one hosted decoder: its command pipe and its latest status."""

    def __init__(self, decoder_id: str, cmd, status_conn) -> None:
        self.id, self.cmd, self.status_conn = decoder_id, cmd, status_conn
        self._status = None
        self._n = 0

    @property
    def status(self):
        while self.status_conn.poll():
            try:
                _, _, self._status = self.status_conn.recv()
            except EOFError:
                break
        return self._status

    def state(self) -> str | None:
        s = self.status
        return None if s is None else s.state

    def request(self, command, timeout: float = 30.0):
        from dataclasses import replace

        self._n += 1
        command = replace(command, request_id=(1, self._n))
        self.cmd.send(command)
        assert self.cmd.poll(timeout), f"no answer to {command.kind}"
        reply = self.cmd.recv()
        assert isinstance(reply, Reply) and reply.request_id == command.request_id
        return reply


class SharedHost:
    """A shared worker process and what it sent back on its control pipe."""

    def __init__(self, models_dir) -> None:
        self.ctx = mp.get_context("spawn")
        self.models_dir = str(models_dir)
        self.control, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=shared_worker_main, args=(0, child, self.models_dir, 0.1, None),
                                     daemon=True)
        self.proc.start()
        child.close()
        self.messages: list = []

    def add(self, name: str, model: str = "tiny-gru", ring=None, **options) -> Hosted:
        spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": model, "options": options})
        cmd, cmd_child = self.ctx.Pipe()
        status_r, status_w = self.ctx.Pipe(duplex=False)
        decoder_id = unique("dec")
        self.control.send(AddStream(decoder_id, 1, spec.model_dump_json(), cmd_child, status_w, ring))
        cmd_child.close()
        status_w.close()
        return Hosted(decoder_id, cmd, status_r)

    def received(self) -> list:
        while self.control.poll():
            self.messages.append(self.control.recv())
        return self.messages

    def close(self) -> None:
        try:
            self.control.send(StopWorker())
        except OSError:
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


@pytest.fixture()
def host(models_dir):
    h = SharedHost(models_dir)
    yield h
    h.close()


def push_all(jobs: list[tuple]) -> None:
    """Push several streams at once (one thread each): ``(outlet, x, rate, chunk)``."""
    threads = [threading.Thread(target=push_paced, args=job, daemon=True) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)


def running(hosted: list[Hosted]) -> None:
    wait_for(lambda: all(h.state() == "running" for h in hosted), 60, "every hosted stream to be running")


def test_eight_streams_in_one_worker_each_equal_to_offline(host, models_dir):
    """8 streams (4 of one model, 4 of another: two shared tables), pushed at once with different chunk
    sizes: each decodes in == out and equals the same samples decoded alone offline (<= 1e-5). They all run
    in the one worker process, and state snapshots come back on the control pipe."""
    reg = ModelRegistry(models_dir)
    n = 1500
    streams = []
    for i in range(8):
        name = unique(f"shared{i}")
        outlet, _ = new_outlet(name, f"{name}-src")
        model = "tiny-gru" if i % 2 == 0 else "tiny-lstm"
        streams.append((name, outlet, model, host.add(name, model, snapshot_interval_s=0.2),
                        test_signal(n, seed=40 + i)))
    running([s[3] for s in streams])
    outs = [open_output(f"{name}-decoded") for name, *_ in streams]
    push_all([(outlet, x, TINY_SFREQ * 2, (1, 4, 10, 16)[i % 4]) for i, (_, outlet, _, _, x) in enumerate(streams)])
    pulled = pull_all_each([(out, n) for out in outs], timeout=60)  # one 0.5 s look for duplicates, not 8
    for (name, _, model, hosted, x), (y, ts) in zip(streams, pulled):
        assert len(y) == n, f"{name}: {len(y)} outputs for {n} inputs"
        np.testing.assert_allclose(y, decode_offline(reg.get(model), x), atol=1e-5)
        wait_for(lambda: hosted.status.counters.samples_out == n, 10, "the counters")
        c = hosted.status.counters
        assert c.samples_in == n and c.samples_lost == 0
        assert hosted.status.worker["kind"] == "shared" and hosted.status.worker["pid"] == host.proc.pid
    wait_for(lambda: {m.decoder_id for m in host.received() if isinstance(m, SavedState)}
             >= {s[3].id for s in streams}, 10, "a state snapshot of every stream")


def test_one_streams_trouble_leaves_the_others_unchanged(host, models_dir):
    """Four streams of one model in one worker. Stream A gets a NaN flood (nan_policy=reject: its bad
    samples rejected and counted), stream B's source comes back with 4 channels (B goes to error and
    leaves the worker with the 'refused' code), stream C's source vanishes (C stalls). Stream D, decoded
    meanwhile, equals its offline decoding exactly; A's good samples too."""
    reg = ModelRegistry(models_dir)
    entry = reg.get("tiny-gru")
    names = [unique(k) for k in "abcd"]
    outlets = {k: new_outlet(nm, f"{nm}-src")[0] for k, nm in zip("abcd", names)}
    hosted = {k: host.add(nm, "tiny-gru", nan_policy="reject" if k == "a" else "hold", stall_timeout_s=0.5)
              for k, nm in zip("abcd", names)}
    running(list(hosted.values()))
    outs = {k: open_output(f"{nm}-decoded") for k, nm in zip("abcd", names)}
    n = 1500
    xs = {k: test_signal(n, seed=60 + i) for i, k in enumerate("abcd")}
    xs["a"][200:700] = np.nan  # a flood: 500 samples, every channel
    push_all([(outlets[k], xs[k][:500], TINY_SFREQ * 2, 10) for k in "abcd"])
    del outlets["c"]  # C vanishes
    outlets["b"] = None
    b4, _ = new_outlet(names[1], f"{names[1]}-src", n_chans=4)  # B comes back with another shape
    wait_for(lambda: hosted["b"].state() == "error", 30, "B's error")
    assert "came back with n_chans=4" in hosted["b"].status.error
    wait_for(lambda: any(isinstance(m, StreamEnded) and m.decoder_id == hosted["b"].id and m.code == 3
                         for m in host.received()), 10, "B to leave the worker as refused")
    wait_for(lambda: hosted["c"].state() == "stalled", 30, "C's stall")
    push_all([(outlets[k], xs[k][500:], TINY_SFREQ * 2, 10) for k in "ad"])
    ok = np.isfinite(xs["a"]).all(axis=1)
    (y_d, _), (y_a, _) = pull_all_each([(outs["d"], n), (outs["a"], int(ok.sum()))], timeout=60)
    assert len(y_d) == n
    np.testing.assert_allclose(y_d, decode_offline(entry, xs["d"]), atol=1e-5)
    assert len(y_a) == ok.sum()
    np.testing.assert_allclose(y_a, decode_offline(entry, xs["a"][ok]), atol=1e-5)
    wait_for(lambda: hosted["a"].status.counters.samples_in == n, 10, "A's counters")
    assert hosted["a"].status.counters.samples_rejected == n - ok.sum()
    assert hosted["d"].state() in ("running", "stalled") and hosted["a"].state() in ("running", "stalled")
    assert not any(isinstance(m, StreamEnded) and m.decoder_id in (hosted["a"].id, hosted["d"].id)
                   for m in host.received())
    assert host.proc.is_alive()


def test_hot_swap_of_one_stream_leaves_the_others_on_their_model(host, models_dir, tmp_path):
    """Two streams of tiny-gru share a table; one is swapped to tiny-gru-b (same outputs, other weights)
    mid-stream. The other's outputs stay exactly those of tiny-gru alone; the swapped one reports the new
    model and its outputs after the swap are tiny-gru-b's (fresh recurrent state, carried filter state)."""
    root = tmp_path / "models"
    root.mkdir()
    for d in models_dir.iterdir():
        (root / d.name).symlink_to(d, target_is_directory=True)
    from support.common import export_tiny

    export_tiny(root, "tiny-gru-b", "gru", seed=7)
    host.close()
    h = SharedHost(root)
    try:
        reg = ModelRegistry(root)
        names = [unique("swap-a"), unique("swap-b")]
        outlets = [new_outlet(nm, f"{nm}-src")[0] for nm in names]
        hosted = [h.add(nm, "tiny-gru") for nm in names]
        running(hosted)
        outs = [open_output(f"{nm}-decoded") for nm in names]
        n = 1200
        xs = [test_signal(n, seed=80 + i) for i in range(2)]
        push_all([(o, x[:600], TINY_SFREQ * 2, 10) for o, x in zip(outlets, xs)])
        wait_for(lambda: hosted[0].status.counters.samples_out == 600, 30, "the first half to be decoded")
        reply = hosted[0].request(SwapModel(model="tiny-gru-b"))
        assert reply.ok, reply.error
        assert hosted[0].status.model["name"] == "tiny-gru-b" or reply.payload.model["name"] == "tiny-gru-b"
        push_all([(o, x[600:], TINY_SFREQ * 2, 10) for o, x in zip(outlets, xs)])
        (y0, _), (y1, _) = pull_all_each([(outs[0], n), (outs[1], n)], timeout=60)
        assert len(y0) == len(y1) == n
        np.testing.assert_allclose(y1, decode_offline(reg.get("tiny-gru"), xs[1]), atol=1e-5)
        np.testing.assert_allclose(y0[:600], decode_offline(reg.get("tiny-gru"), xs[0][:600]), atol=1e-5)
        assert not np.allclose(y0[600:], decode_offline(reg.get("tiny-gru"), xs[0])[600:], atol=1e-3)
        wait_for(lambda: hosted[1].status.model["name"] == "tiny-gru", 5, "the other stream's model")
        assert hosted[0].status.counters.swaps == 1 and hosted[1].status.counters.swaps == 0
    finally:
        h.close()


def push_irregular(outlet, x: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """Push ``x`` at ``rate`` in chunks of random sizes (1..37 samples) with random pauses between some of
    them (as a jittery network delivers); every sample keeps its own timestamp. Returns the timestamps."""
    import time

    import pylsl

    rng = np.random.default_rng(seed)
    t_start = pylsl.local_clock()
    ts = t_start + np.arange(len(x)) / rate
    i = 0
    while i < len(x):
        k = int(rng.integers(1, 38))
        wait = ts[min(i + k, len(x)) - 1] - pylsl.local_clock() + (0.03 if rng.random() < 0.1 else 0.0)
        if wait > 0:
            time.sleep(wait)
        outlet.push_chunk(x[i:i + k], ts[i:i + k].tolist())
        i += k
    return ts


def test_one_stream_alone_in_a_worker_decodes_every_sample_as_offline(host, models_dir):
    """One stream alone in a shared worker (the worker then waits in its pull): pushed sample by sample, then
    in chunks of 10, in == out, equal to the same samples decoded offline, each output stamped with its
    input's timestamp."""
    reg = ModelRegistry(models_dir)
    name = unique("alone")
    outlet, _ = new_outlet(name, f"{name}-src")
    hosted = host.add(name, "tiny-gru")
    running([hosted])
    out = open_output(f"{name}-decoded")
    n = 1200
    x = test_signal(n, seed=90)
    # the chunks of 10 go on at the next sample's stamp: a second push_paced starting at its own local_clock() put a
    # hole in the stamps as long as the first was late at its end (33 samples, counted lost, seen on a loaded machine)
    first = push_paced(outlet, x[:600], TINY_SFREQ, 1)
    ts_in = np.concatenate([first, push_paced(outlet, x[600:], TINY_SFREQ, 10, t_start=first[-1] + 1 / TINY_SFREQ)])
    y, ts_out = pull_all(out, n, timeout=60)
    assert len(y) == n, f"{len(y)} outputs for {n} inputs"
    np.testing.assert_allclose(y, decode_offline(reg.get("tiny-gru"), x), atol=1e-5)
    np.testing.assert_allclose(ts_out, ts_in, atol=1e-9)
    wait_for(lambda: hosted.status.counters.samples_out == n, 10, "the counters")
    assert hosted.status.counters.samples_lost == 0 and hosted.status.worker["kind"] == "shared"


def test_many_streams_with_irregular_chunks_keep_every_sample_in_order(host, models_dir):
    """Six streams of one model in one worker, each pushed in chunks of random sizes with random pauses (so
    their arrivals keep no rhythm the worker could learn): every stream's outputs come out complete, in
    order (their timestamps are the inputs' own, strictly increasing) and equal to its offline decoding."""
    reg = ModelRegistry(models_dir)
    entry = reg.get("tiny-gru")
    n = 1500
    streams = []
    for i in range(6):
        name = unique(f"irregular{i}")
        outlet, _ = new_outlet(name, f"{name}-src")
        streams.append((name, outlet, host.add(name, "tiny-gru"), test_signal(n, seed=100 + i)))
    running([s[2] for s in streams])
    outs = [open_output(f"{name}-decoded") for name, *_ in streams]
    results: dict[int, np.ndarray] = {}

    def push(i: int) -> None:
        results[i] = push_irregular(streams[i][1], streams[i][3], TINY_SFREQ * 2, seed=200 + i)

    threads = [threading.Thread(target=push, args=(i,), daemon=True) for i in range(len(streams))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for i, ((name, _, hosted, x), out) in enumerate(zip(streams, outs)):
        y, ts_out = pull_all(out, n, timeout=60)
        assert len(y) == n, f"{name}: {len(y)} outputs for {n} inputs"
        assert (np.diff(ts_out) > 0).all(), f"{name}: outputs out of order"
        np.testing.assert_allclose(ts_out, results[i], atol=1e-9)
        np.testing.assert_allclose(y, decode_offline(entry, x), atol=1e-5)
        wait_for(lambda: hosted.status.counters.samples_out == n, 10, f"{name}'s counters")
        assert hosted.status.counters.samples_in == n


def test_a_ring_freed_before_the_worker_attaches_it_is_a_refusal_said_in_words(host):
    """A decoder stopped (DELETE) while its POST still started it: the supervisor freed its ring before the shared
    worker attached it. That stream ends refused, in words, and the worker hosts the next one (before: reported as
    a crash with a FileNotFoundError traceback)."""
    from bci_stream.service.ring import OutputRing
    from bci_stream.service.worker_entry import EXIT_REFUSED

    ring = OutputRing.create_named(64, 3)
    ring.unlink()
    gone = host.add(unique("gone"), ring=ring.handles)
    wait_for(lambda: any(isinstance(m, StreamEnded) and m.decoder_id == gone.id for m in host.received()), 30,
             "the stream whose ring is gone to end")
    (ended,) = [m for m in host.received() if isinstance(m, StreamEnded) and m.decoder_id == gone.id]
    assert ended.code == EXIT_REFUSED
    assert gone.state() == "error"
    error = gone.status.error
    assert f"output ring {ring.handles.name} is gone: its decoder was stopped before this worker attached it" in error
    assert "Traceback" not in error and "crashed" not in error
    name = unique("next")
    outlet, _ = new_outlet(name, f"{name}-src")
    nxt = host.add(name)
    wait_for(lambda: nxt.state() == "running", 60, "the next stream to run in the same worker")
    assert host.proc.is_alive()
    del outlet
