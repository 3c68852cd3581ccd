"""A decoder that cannot keep up with its stream says so, and says when it keeps up again (real uvicorn, a real
dedicated worker, real onnxruntime, real LSL on loopback). Before, a decoder losing half its input stayed
``running`` with no warning: ``load.busy`` near 1 and ``samples_lost`` growing were figures only (audit s41 F9).

The model is a real GRU (1 x 1024) whose per-sample step costs a fraction of a millisecond here; the sender pushes,
in small chunks stamped as they go, several times what this machine decodes (measured on the model first, so a
faster machine gets a faster sender), then a trickle. Behaviour only: no speed is asserted, every wait is on a
condition with a generous timeout."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pylsl
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from bci_stream.lsl.info import make_stream_info
from support.common import unique
from support.http import wait_status

CH, SFREQ = ["C3", "C4"], 1000.0
pytestmark = [pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The model's folder, and the samples per second this machine decodes with it (one step over a 1000-sample
    chunk, as a worker behind its stream pulls them)."""
    import torch

    from bci_stream.core.registry import ModelRegistry
    from bci_stream.dsp.preprocess import PreprocessingConfig
    from bci_stream.engine.step_model import StepModel
    from bci_stream.train.export.onnx_export import export_model
    from bci_stream.train.nets.rnn import CausalRNN

    root = tmp_path_factory.mktemp("slow")
    torch.manual_seed(0)
    export_model(CausalRNN(len(CH), 3, hidden_size=1024, n_layers=1), root / "slow-gru", name="slow-gru",
                 version="1.0.0", ch_names=CH, sfreq=SFREQ, output_labels=["rest", "left", "right"],
                 preprocessing=PreprocessingConfig(mean=[0.0, 0.0], std=[10.0, 10.0]), parity_samples=200,
                 training={"data": "random weights, test fixture"})
    entry = ModelRegistry(root).get("slow-gru")
    model = StepModel(entry.onnx_path, entry.card)
    state = model.new_state()
    x = (20 * np.random.default_rng(0).standard_normal((1000, len(CH)))).astype(np.float32)
    model.run(x[:10], state)
    t = time.perf_counter()
    model.run(x, state)
    return root, len(x) / (time.perf_counter() - t)


class Sender:
    """Pushes chunks every 10 ms at ``rate`` samples per second (changed on the fly), each sample stamped at its
    place between the last push and now."""

    def __init__(self, outlet: pylsl.StreamOutlet, rate: float) -> None:
        self.outlet, self.rate, self.stop = outlet, rate, threading.Event()
        self.rng = np.random.default_rng(1)
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        last, owed = pylsl.local_clock(), 0.0
        while not self.stop.wait(0.01):
            now = pylsl.local_clock()
            owed += (now - last) * self.rate
            n = int(owed)
            if n:
                owed -= n
                x = (20 * self.rng.standard_normal((n, len(CH)))).astype(np.float32)
                self.outlet.push_chunk(x, (last + (now - last) * np.arange(1, n + 1) / n).tolist())
            last = now


def test_a_decoder_that_cannot_keep_up_says_so_and_clears(slow_model: tuple[Path, float]) -> None:
    root, capacity = slow_model
    name = unique("s41d-slow")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", CH, SFREQ, f"{name}-src"))
    sender = Sender(outlet, 5 * capacity)  # five times what this machine decodes
    with BackgroundServer(Settings(host="127.0.0.1", port=0, models_dir=root, status_interval=0.1)) as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        r = client.post("/decoders", json={"stream": {"name": name}, "model": "slow-gru",
                                           "options": {"worker": "dedicated", "max_buffer_s": 1}})
        assert r.status_code == 201, r.text
        decoder_id = r.json()["id"]
        wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled"), 60, "running")
        sender.thread.start()
        try:
            st = wait_status(client, decoder_id, lambda s: (s.get("load") or {}).get("warning"), 120,
                             "a saturation warning")
            load = st["load"]
            assert st["state"] == "running" and st["last_error"] is None  # a warning, no error
            warning = load["warning"]
            assert "cannot keep up" in warning and "busy" in warning and "ms of work" in warning, warning
            assert "smaller model" in warning and "chunks of several samples" in warning, warning
            assert isinstance(load["samples_lost"], int)
            sender.rate = 50.0  # a trickle: it keeps up again
            wait_status(client, decoder_id, lambda s: s.get("load") is not None and s["load"]["warning"] is None
                        and s["state"] == "running", 120, "the warning cleared")
        finally:
            sender.stop.set()
            sender.thread.join(10)
        assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_streams_of_a_shared_worker_that_cannot_keep_up_say_so(slow_model: tuple[Path, float]) -> None:
    """Three streams on one shared worker, each sending what this machine decodes of one stream (so together some
    three times the worker's capacity), then a trickle. Before, each stream's ``busy`` was its part of the worker's
    work (about a third here, 0.08-0.27 for 8-16 streams in an audit) and no warning came, the outputs later and
    later (audit s42, perf F1); now the worker's own busy share (``load.worker_busy``) says it to each stream."""
    root, capacity = slow_model
    names = [unique("s42-shared-slow") for _ in range(3)]
    senders = [Sender(pylsl.StreamOutlet(make_stream_info(n, "EEG", CH, SFREQ, f"{n}-src")), capacity) for n in names]
    settings = Settings(host="127.0.0.1", port=0, models_dir=root, status_interval=0.1, shared_workers=1)
    with BackgroundServer(settings) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        ids = []
        for n in names:
            r = client.post("/decoders", json={"stream": {"name": n}, "model": "slow-gru",
                                               "options": {"worker": "shared"}})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        for decoder_id in ids:
            wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled"), 60, "running")
        pids = {client.get(f"/decoders/{d}").json()["worker"]["pid"] for d in ids}
        assert len(pids) == 1, pids  # one worker for the three
        for sender in senders:
            sender.thread.start()
        try:
            for decoder_id in ids:
                st = wait_status(client, decoder_id, lambda s: (s.get("load") or {}).get("warning"), 120,
                                 "a saturation warning")
                load = st["load"]
                assert st["state"] == "running" and st["last_error"] is None  # a warning, no error
                assert load["worker_busy"] is not None and load["worker_busy"] >= 0.8, load
                assert "the shared worker running this decoder cannot keep up" in load["warning"], load["warning"]
                assert "shared_workers" in load["warning"] and "dedicated" in load["warning"], load["warning"]
            for sender in senders:
                sender.rate = 20.0  # a trickle: the worker keeps up again
            for decoder_id in ids:
                wait_status(client, decoder_id, lambda s: s.get("load") is not None and s["load"]["warning"] is None,
                            120, "the warning cleared")
        finally:
            for sender in senders:
                sender.stop.set()
                sender.thread.join(10)
        for decoder_id in ids:
            assert client.delete(f"/decoders/{decoder_id}").status_code == 200
