"""/metrics while a restarted worker has sent no status yet (the decoder ``starting``, a fresh status with no
histograms and no load): the last generation's latency histograms and load gauges are exported, not dropped
(they vanished for that window: ~350 of a decoder's ~370 sample lines). A real DecoderHandle and collector; the
supervisor is a stand-in that lists it."""

from __future__ import annotations

from dataclasses import replace

from bci_stream.api.routers.metrics import SupervisorCollector
from bci_stream.core.spec import DecoderSpec
from bci_stream.core.status import WorkerStatus
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.metrics import LatencyHistogram
from support.listing import Listing


def samples(handle: DecoderHandle) -> dict[str, float]:
    return {f"{s.name}{sorted(s.labels.items())}": s.value for f in SupervisorCollector(Listing(handle)).collect()
            for s in f.samples}


def ran() -> WorkerStatus:
    hist = LatencyHistogram()
    for v in (0.001, 0.002, 0.004):
        hist.observe(v)
    window = {"counts": hist.to_dict()["counts"], "sum": 0.007, "n": 3, "max": 0.004}
    load = {"window_s": 9.5, "input_rate_hz": 500.0, "chunk_rate_hz": 50.0, "busy": 0.02, "backlog_samples": 0,
            "backlog_s": 0.0, "backlog_max": 10, "backlog_mean": 1.0, "hist": {"e2e": window, "service": window}}
    return WorkerStatus(state="running", pid=11, hist={"e2e": hist.to_dict(), "decode": hist.to_dict()}, load=load,
                        model={"name": "tiny-gru"})


def test_a_starting_generation_exports_the_last_ones_histograms_and_load():
    h = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "tiny-gru"}))
    h.status = ran()
    before = samples(h)
    h.ended_status, h.status = h.status, WorkerStatus(pid=12, model=h.status.model)  # a restart (Supervisor._spawn)
    during = samples(h)
    per_generation = [k for k in before if k.startswith(("bci_stream_latency_", "bci_stream_busy", "bci_stream_input",
                                                         "bci_stream_recent", "bci_stream_backlog", "bci_stream_load"))]
    assert len(per_generation) > 40
    assert {k: during.get(k) for k in per_generation} == {k: before[k] for k in per_generation}
    assert during["bci_stream_decoder_state[('decoder_id', 'd1'), ('model', 'tiny-gru'), ('state', 'starting')]"] == 1


def test_the_new_generations_figures_replace_them_once_it_reports():
    h = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "tiny-gru"}))
    h.ended_status = ran()
    empty = {k: {"counts": [0] * len(v["counts"]), "sum": 0.0, "n": 0, "max": 0.0}
             for k, v in h.ended_status.hist.items()}
    h.status = replace(WorkerStatus(pid=12, model={"name": "tiny-gru"}), state="connecting", hist=empty)
    now = samples(h)
    assert now["bci_stream_latency_e2e_seconds_count[('decoder_id', 'd1'), ('model', 'tiny-gru')]"] == 0
    assert not [k for k in now if k.startswith("bci_stream_busy")]  # no recent window while it connects
