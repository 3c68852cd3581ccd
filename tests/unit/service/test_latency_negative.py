"""Latency values below zero (audit s21 finding 4): an ``e2e`` value is negative when the sender stamps its samples
ahead of this host's clock (mne-lsl's PlayerLSL stamps a chunk in the future). They used to fall into the lowest
bucket (status e2e p50 ~0.001 ms while the mean was -45 ms) and into ``_sum`` (going negative on /metrics). Now they
are counted apart (``n_negative``, ``min``), left out of buckets, ``n`` and ``sum``, and the status says so. A real
DecoderHandle, collector and status view; the supervisor is a stand-in that lists the handle."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.api.routers.metrics import SupervisorCollector
from bci_stream.api.views import decoder_status
from bci_stream.core.spec import DecoderSpec
from bci_stream.core.status import WorkerStatus
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.metrics import LatencyHistogram, add_histograms, summarise
from support.listing import Listing

LV = (("decoder_id", "d1"), ("model", "tiny-gru"))


def ahead_and_measured() -> tuple[LatencyHistogram, np.ndarray, np.ndarray]:
    """A histogram fed like a PlayerLSL stream: 40 samples stamped up to 100 ms ahead, 60 measured 5-25 ms, through
    both paths of ``observe_many`` (chunks of 16 values or fewer: one at a time; longer ones: numpy)."""
    rng = np.random.default_rng(4)
    ahead = -rng.uniform(0.001, 0.1, 40)
    ahead[7] = -0.1
    measured = rng.uniform(0.005, 0.025, 60)
    values = rng.permutation(np.concatenate([ahead, measured]))
    h = LatencyHistogram()
    h.observe_many(values[:10])  # <= 16: scalar path
    h.observe_many(values[10:])  # numpy path
    h.observe_many(-np.full(20, 0.05))  # a long chunk all ahead: nothing measured in it
    return h, np.concatenate([ahead, -np.full(20, 0.05)]), measured


def test_values_below_zero_are_counted_apart_and_stay_out_of_buckets_sum_and_count():
    h, ahead, measured = ahead_and_measured()
    d = h.to_dict()
    assert (d["n"], d["n_negative"], sum(d["counts"])) == (len(measured), len(ahead), len(measured))
    assert d["sum"] == pytest.approx(measured.sum()) and d["sum"] > 0
    assert d["min"] == pytest.approx(-0.1) and d["max"] == pytest.approx(measured.max())
    assert d["counts"][0] == 0  # the lowest bucket (<= 1 µs) holds nothing: the negatives used to land there
    s = summarise(d)
    assert s["count"] == len(measured) + len(ahead)  # every value observed (e2e: every sample)
    assert 5.0 <= s["p50"] <= 25.0 and s["mean"] == pytest.approx(measured.mean() * 1e3)
    assert s["n_negative"] == len(ahead) and s["ahead_ms"] == pytest.approx(100.0)
    assert s["note"].startswith(f"{len(ahead)} of {len(ahead) + len(measured)} values below zero: input timestamps "
                                "ahead of this host's clock by up to 100.0 ms")
    assert "e2e is not measurable for those samples" in s["note"]


def test_a_histogram_without_negative_values_is_as_before():
    h = LatencyHistogram()
    h.observe_many(np.array([0.0, 0.001, 0.002]))  # zero is a latency (the lowest bucket), not ahead
    assert h.to_dict() == {"counts": h.counts, "sum": pytest.approx(0.003), "n": 3, "max": 0.002}
    s = summarise(h.to_dict())
    assert (s["n_negative"], s["ahead_ms"], s["note"]) == (0, None, None)


def test_generations_add_their_negative_counts_and_keep_the_most_negative():
    a, b = LatencyHistogram(), LatencyHistogram()
    a.observe_many(np.array([-0.02, 0.003]))
    b.observe_many(np.array([-0.07, -0.01, 0.004]))
    total = add_histograms({"e2e": a.to_dict()}, {"e2e": b.to_dict()})["e2e"]
    assert (total["n"], total["n_negative"], total["min"]) == (2, 3, -0.07)
    plain = add_histograms({"e2e": LatencyHistogram().to_dict()}, {"e2e": LatencyHistogram().to_dict()})["e2e"]
    assert "n_negative" not in plain  # none below zero: the dict as before


def test_metrics_keep_a_valid_histogram_and_count_the_values_below_zero_and_status_says_so():
    h, ahead, measured = ahead_and_measured()
    handle = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "tiny-gru"}))
    handle.status = WorkerStatus(state="running", model={"name": "tiny-gru"}, hist={"e2e": h.to_dict()})
    families = list(SupervisorCollector(Listing(handle)).collect())
    values = {f"{s.name}{tuple(sorted(s.labels.items()))}": s.value for f in families for s in f.samples}
    name = "bci_stream_latency_e2e_seconds"
    assert values[f"{name}_sum{LV}"] == pytest.approx(measured.sum()) and values[f"{name}_sum{LV}"] > 0
    assert values[f"{name}_count{LV}"] == len(measured)
    assert values[f"{name}_bucket{tuple(sorted((*LV, ('le', '+Inf'))))}"] == len(measured)
    negative = f"bci_stream_latency_negative_observations_total{tuple(sorted((*LV, ('stage', 'e2e'))))}"
    assert values[negative] == len(ahead)

    e2e = decoder_status(handle).latency_ms["e2e"]
    assert (e2e.count, e2e.n_negative, e2e.ahead_ms) == (len(measured) + len(ahead), len(ahead), pytest.approx(100.0))
    assert e2e.p50 > 1.0 and e2e.note is not None and "not measurable" in e2e.note
