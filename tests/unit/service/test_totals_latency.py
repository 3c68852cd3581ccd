"""Latency histograms summed over worker generations (bci_stream.service.totals), as /metrics exports them: its
histogram buckets, ``_sum`` and ``_count`` never go back at a worker restart; and ``provenance_missing_rows``, a
counter summed in ``totals`` and exported with a HELP text of its own. A real DecoderHandle and collector; the
supervisor is a stand-in that lists it (a real worker kill: tests/integration/test_restart_metrics_totals.py)."""

from __future__ import annotations

from bci_stream.api.routers.metrics import SupervisorCollector
from bci_stream.core.spec import DecoderSpec
from bci_stream.core.status import Counters, WorkerStatus
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.metrics import EDGES, LatencyHistogram, add_histograms
from bci_stream.service.totals import GenerationTotals
from support.listing import Listing

LV = (("decoder_id", "d1"), ("model", "tiny-gru"))


def hist(*values: float) -> dict:
    h = LatencyHistogram()
    for v in values:
        h.observe(v)
    return h.to_dict()


def exported(handle: DecoderHandle) -> tuple[dict[str, float], dict[str, str]]:
    """The sample values (by name and sorted labels) and the HELP texts /metrics gives for ``handle``."""
    families = list(SupervisorCollector(Listing(handle)).collect())
    values = {f"{s.name}{tuple(sorted(s.labels.items()))}": s.value for f in families for s in f.samples}
    return values, {f.name: f.documentation for f in families}


def buckets(values: dict[str, float], stage: str) -> list[float]:
    name = f"bci_stream_latency_{stage}_seconds_bucket"
    return [values[f"{name}{tuple(sorted((*LV, ('le', le))))}"] for le in [repr(float(e)) for e in EDGES] + ["+Inf"]]


def handle() -> DecoderHandle:
    h = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "tiny-gru"}))
    h.status = WorkerStatus(state="running", model={"name": "tiny-gru"})
    return h


def test_add_histograms_adds_counts_sum_and_n_and_keeps_the_larger_max():
    a, b = hist(0.001, 0.002), hist(0.004, 0.5, 0.003)
    total = add_histograms({"e2e": a, "decode": a}, {"e2e": b, "publish": b})
    assert total["e2e"] == {"counts": [x + y for x, y in zip(a["counts"], b["counts"])], "sum": a["sum"] + b["sum"],
                            "n": 5, "max": 0.5}
    assert total["decode"] == a and total["publish"] == b  # a stage in one of them only: as it is
    assert add_histograms({}, {}) == {}


def test_the_ended_generations_histograms_are_summed_with_the_running_ones():
    t = GenerationTotals()
    assert t.latency() == {}
    t.take(1, Counters(), {"e2e": hist(0.001)})
    t.take(1, Counters(), {"e2e": hist(0.001, 0.002, 0.009)})  # one generation: its latest snapshot, not a sum
    assert t.latency()["e2e"]["n"] == 3
    t.take(2, Counters(), {"e2e": hist(0.004)})
    t.take(1, Counters(), {"e2e": hist(*[0.1] * 50)})  # a late snapshot of an ended generation: ignored
    assert t.latency()["e2e"] == add_histograms({"e2e": hist(0.001, 0.002, 0.009)}, {"e2e": hist(0.004)})["e2e"]
    t.take(2, Counters())  # a snapshot that brings no histograms keeps the generation's last ones
    t.take(4, Counters(), {"e2e": hist()})  # generation 3 never reported; generation 4 has decoded nothing yet
    assert t.latency()["e2e"]["n"] == 4 and t.latency()["e2e"]["max"] == 0.009


def test_metrics_histograms_do_not_go_back_when_a_restarted_worker_reports():
    h = handle()
    first = {"e2e": hist(0.001, 0.002, 0.004), "decode": hist(0.0001)}
    h.counted.take(1, Counters(samples_in=3), first)
    h.status.hist = first
    before, _ = exported(h)
    h.ended_status, h.status = h.status, WorkerStatus(state="running", model={"name": "tiny-gru"})  # a restart
    second = {"e2e": hist(0.003), "decode": hist(0.0002)}
    h.counted.take(2, Counters(samples_in=1), second)  # the new generation reports (from zero)
    h.status.hist = second
    after, _ = exported(h)
    for stage in ("e2e", "decode"):
        assert all(y >= x for x, y in zip(buckets(before, stage), buckets(after, stage)))
        assert buckets(after, stage)[-1] == first[stage]["n"] + second[stage]["n"]
        count = f"bci_stream_latency_{stage}_seconds_count{LV}"
        total = f"bci_stream_latency_{stage}_seconds_sum{LV}"
        assert after[count] == before[count] + 1 and after[total] == first[stage]["sum"] + second[stage]["sum"]


def test_provenance_missing_rows_is_a_counter_summed_over_generations_with_its_own_help():
    h = handle()
    h.take_status(2, WorkerStatus(counters=Counters(samples_in=9, provenance_missing_rows=7)))
    h.take_status(3, WorkerStatus(counters=Counters(samples_in=4)))  # the next generation reports no new range
    assert h.totals().provenance_missing_rows == 7
    values, docs = exported(h)
    assert values[f"bci_stream_provenance_missing_rows_total{LV}"] == 7
    help_text = docs["bci_stream_provenance_missing_rows"]
    assert "without a provenance row" in help_text and "upper bound" in help_text
