"""The ``model`` label of ``/metrics`` is the model's name: from the status, else the spec's model without its
``@version``. After a hot swap the spec says ``B@1`` (a restart runs that version) while the status says ``B``: a
snapshot without a model (a restarted worker before its load) must not start a ``model="B@1"`` series."""

from __future__ import annotations

from dataclasses import replace

from bci_stream.api.routers.metrics import SupervisorCollector
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.handle import DecoderHandle
from support.listing import Listing


def model_labels(handle: DecoderHandle) -> set[str]:
    return {sample.labels["model"] for family in SupervisorCollector(Listing(handle)).collect()
            for sample in family.samples}


def test_a_restart_after_a_swap_keeps_the_models_name_as_its_label():
    handle = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "B@1"}))  # swapped
    handle.status = replace(handle.status, state="running", model={"name": "B", "version": "1"})
    assert model_labels(handle) == {"B"}
    handle.status = replace(handle.status, state="starting", model=None)  # the restarted worker has not loaded yet
    assert model_labels(handle) == {"B"}


def series(handle: DecoderHandle, metric: str) -> dict[str, float]:
    return {s.labels["model"]: s.value for family in SupervisorCollector(Listing(handle)).collect()
            for s in family.samples if s.name == metric}


def test_each_models_series_counts_what_the_decoder_did_while_running_it():
    """A hot swap from A to B: B's new series starts from the swap (it started with A's 488 samples), and a swap back
    to A resumes A's series where it stopped (it jumped by B's samples); counters and histograms alike."""
    from bci_stream.core.status import Counters

    def hist(n: int) -> dict:
        return {"e2e": {"counts": [n] + [0] * 39, "sum": 0.001 * n, "n": n, "max": 0.001}}

    def report(generation: int, n: int) -> None:
        handle.counted.take(generation, Counters(samples_in=n, samples_out=n), hist(n))

    handle = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "A"}))
    handle.status = replace(handle.status, state="running", model={"name": "A", "version": "1"})
    report(1, 488)
    assert series(handle, "bci_stream_samples_out_total") == {"A": 488}
    handle.series.switch("B", "A", handle.totals(), handle.counted.latency())  # as Supervisor.request after a swap
    report(1, 588)  # B decoded 100
    assert series(handle, "bci_stream_samples_out_total") == {"B": 100}
    assert series(handle, "bci_stream_latency_e2e_seconds_count") == {"B": 100}
    handle.series.switch("A", "B", handle.totals(), handle.counted.latency())
    report(2, 30)  # a worker restart: the new generation counts from 0, the totals go on (618)
    assert series(handle, "bci_stream_samples_out_total") == {"A": 518}
    assert series(handle, "bci_stream_latency_e2e_seconds_count") == {"A": 518}


def test_every_summed_counter_of_the_status_is_exported():
    """A counter of the status with no ``/metrics`` series (``nonfinite_chunks`` had none) cannot be alerted on."""
    import dataclasses

    from bci_stream.core.status import Counters
    from bci_stream.service.totals import CARRIED, MAXIMA

    handle = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "A"}))
    handle.status = replace(handle.status, state="running", model={"name": "A", "version": "1"})
    names = {s.name for family in SupervisorCollector(Listing(handle)).collect() for s in family.samples}
    summed = [f.name for f in dataclasses.fields(Counters) if f.name not in CARRIED + MAXIMA]
    assert [n for n in summed if f"bci_stream_{n}_total" not in names] == []
