"""Prometheus exposition of every decoder's counters, state and latency histograms."""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from bci_stream.core.status import DecoderState
from bci_stream.service.metrics import EDGES
from bci_stream.service.supervisor import Supervisor

router = APIRouter(tags=["metrics"])

STATES = get_args(DecoderState)
#: Counters of the worker that only grow (within one worker process) -> Prometheus counters.
COUNTERS = ("samples_in", "samples_out", "samples_rejected", "samples_lost", "chunks", "gaps", "gap_policy_applied",
            "nonfinite_values", "resets", "swaps", "deadline_misses", "stalls", "resumes", "reconnects",
            "backward_steps")


class SupervisorCollector:
    """Reads the supervisor's latest worker snapshots at scrape time (nothing is kept twice)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        handles = self.supervisor.list()
        labels = ["decoder_id", "model"]
        state = GaugeMetricFamily("bci_stream_decoder_state", "1 for the decoder's current state", labels=[*labels, "state"])
        restarts = CounterMetricFamily("bci_stream_decoder_restarts", "Worker restarts after a crash", labels=labels)
        age = GaugeMetricFamily("bci_stream_status_age_seconds", "Seconds since the worker's latest status",
                                labels=labels)
        counters = {k: CounterMetricFamily(f"bci_stream_{k}", f"Decoder counter {k}", labels=labels) for k in COUNTERS}
        hists: dict[str, HistogramMetricFamily] = {}
        for h in handles:
            s = h.status
            lv = [h.id, (s.model or {}).get("name") or h.spec.model]
            for st in STATES:
                state.add_metric([*lv, st], 1.0 if s.state == st else 0.0)
            restarts.add_metric(lv, h.restarts)
            if (seconds := h.status_age()) is not None:
                age.add_metric(lv, seconds)
            for k, fam in counters.items():
                fam.add_metric(lv, float(getattr(s.counters, k)))
            for stage, hist in s.hist.items():
                fam = hists.setdefault(stage, HistogramMetricFamily(
                    f"bci_stream_latency_{stage}_seconds", f"Latency of stage {stage} (seconds)", labels=labels))
                cum, buckets = 0, []
                for edge, count in zip(EDGES, hist["counts"]):
                    cum += count
                    buckets.append((repr(float(edge)), float(cum)))
                buckets.append(("+Inf", float(hist["n"])))
                fam.add_metric(lv, buckets, sum_value=hist["sum"])
        yield state
        yield restarts
        yield age
        yield from counters.values()
        yield from hists.values()


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text exposition (scrape it; no token needed: it only reads)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SupervisorCollector(request.app.state.supervisor))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
