"""A sender that stamps its samples ahead of this host's clock (audit s21 finding 4: mne-lsl's PlayerLSL stamps a
chunk up to ~100 ms in the future) makes ``e2e`` (publish time minus the input stamp) negative. The status used to
read an e2e p50 of ~0.001 ms (the negatives fell into the lowest bucket) and /metrics' ``_sum`` went negative.

Real LSL on loopback: a pylsl outlet pushes the tiny model's signal in real time, each sample stamped 50 ms after it
is pushed; a real supervisor and worker decode it. The status counts those values apart (``n_negative``, ``ahead_ms``
~50 ms, a ``note``), its percentiles cover only the measured ones, and /metrics stays a valid histogram (``_sum``
never negative) with a counter of the values below zero."""

from __future__ import annotations

import threading
import time

import numpy as np
import pylsl
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bci_stream.api.routers.metrics import SupervisorCollector
from bci_stream.api.views import decoder_status
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, wait_for

AHEAD_S = 0.05
CHUNK = 10


def push_ahead(outlet: pylsl.StreamOutlet, x: np.ndarray, halt: threading.Event) -> None:
    """Push ``x`` in real time, chunks of CHUNK, each sample stamped AHEAD_S after the time it is due."""
    t0 = pylsl.local_clock()
    for i in range(0, len(x), CHUNK):
        due = t0 + np.arange(i, i + CHUNK) / TINY_SFREQ
        if (wait := due[-1] - pylsl.local_clock()) > 0:
            time.sleep(wait)
        if halt.is_set():
            return
        outlet.push_chunk(x[i:i + CHUNK], (due + AHEAD_S).tolist())


def test_e2e_of_samples_stamped_ahead_of_the_clock_is_counted_apart_and_said(models_dir):
    sup = Supervisor(str(models_dir), status_interval=0.1)
    name = unique("s21ahead")
    outlet = new_outlet(name, f"{name}-src")[0]
    halt = threading.Event()
    pusher = threading.Thread(target=push_ahead, args=(outlet, test_signal(int(30 * TINY_SFREQ), seed=5), halt),
                              daemon=True)
    pusher.start()
    card = ModelRegistry(models_dir).get("tiny-gru").card
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru",
                                       "options": {"markers": {"enabled": False}}})
    try:
        handle = sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)
        wait_for(lambda: handle.status.state == "running" and handle.status.counters.samples_out >= 1000
                 and (handle.status.hist or {}).get("e2e", {}).get("n_negative", 0) >= 100, 60,
                 "1000 samples decoded, 100 of them published before their stamps")  # the backlog at start is not
        st = decoder_status(handle)
        e2e, out = st.latency_ms["e2e"], st.counters["samples_out"]
        raw = handle.status.hist["e2e"]
        assert e2e.count == raw["n"] + raw["n_negative"] <= out  # every sample's value counted once
        assert e2e.n_negative >= 100 and 0.0 < e2e.ahead_ms <= AHEAD_S * 1e3 + 1.0  # publish is after the push
        assert e2e.note is not None and "ahead of this host's clock" in e2e.note and "not measurable" in e2e.note
        if raw["n"]:  # a sample published more than 50 ms after its push (a loaded machine): measured, > 0
            assert e2e.p50 > 0 and e2e.mean > 0

        registry = CollectorRegistry(auto_describe=False)
        registry.register(SupervisorCollector(sup))
        families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
        e2e_hist = {s.name: s.value for s in families["bci_stream_latency_e2e_seconds"].samples
                    if s.labels["decoder_id"] == handle.id and "le" not in s.labels}
        assert e2e_hist["bci_stream_latency_e2e_seconds_sum"] >= 0.0
        negative = {s.labels["stage"]: s.value for s in families["bci_stream_latency_negative_observations"].samples
                    if s.labels["decoder_id"] == handle.id}
        assert negative["e2e"] >= 100 and negative["decode"] == 0
    finally:
        halt.set()
        sup.shutdown()
