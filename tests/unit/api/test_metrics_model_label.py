"""The ``model`` label of ``/metrics`` is the model's name: from the status, else the spec's model without its
``@version``. After a hot swap the spec says ``B@1`` (a restart runs that version) while the status says ``B``: a
snapshot without a model (a restarted worker before its load) must not start a ``model="B@1"`` series."""

from __future__ import annotations

import dataclasses
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
    to A resumes A's series where it stopped (it jumped by B's samples); counters and histograms alike. The series of
    the model not running stay exported as its run left them."""
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
    assert series(handle, "bci_stream_samples_out_total") == {"A": 488, "B": 100}  # A's frozen
    assert series(handle, "bci_stream_latency_e2e_seconds_count") == {"A": 488, "B": 100}
    handle.series.switch("A", "B", handle.totals(), handle.counted.latency())
    report(2, 30)  # a worker restart: the new generation counts from 0, the totals go on (618)
    assert series(handle, "bci_stream_samples_out_total") == {"A": 518, "B": 100}
    assert series(handle, "bci_stream_latency_e2e_seconds_count") == {"A": 518, "B": 100}


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


def test_every_series_of_a_decoder_sums_to_its_totals_and_a_swap_shows_at_once():
    """The audit's case: A decodes 1090 samples, a swap to B (its answer counts the swap), B decodes 450, a worker
    restart, a swap back to A, A decodes 530. Before, only the running model's series was exported: after the swap
    no series showed it (it was booked to A's, no longer exported), after the swap back the export said 1 swap where
    the status said 2, and B's 450 samples were gone from it (a sum by decoder fell)."""
    from bci_stream.core.status import Counters
    from bci_stream.service.totals import CARRIED, MAXIMA

    handle = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "A"}))
    handle.status = replace(handle.status, state="running", model={"name": "A", "version": "1"})
    summed = [f.name for f in dataclasses.fields(Counters) if f.name not in CARRIED + MAXIMA]

    def hist(n: int) -> dict:
        return {"e2e": {"counts": [n] + [0] * 39, "sum": 0.001 * n, "n": n, "max": 0.001}}

    def report(generation: int, n: int, swaps: int) -> None:
        handle.counted.take(generation, Counters(samples_in=n, samples_out=n, chunks=n // 10, swaps=swaps), hist(n))

    def swap(to: str, before: str, generation: int, n: int, swaps: int) -> None:  # as Supervisor.request does
        handle.take_answer(generation, Counters(samples_in=n, samples_out=n, chunks=n // 10, swaps=swaps))
        handle.series.switch(to, before, handle.totals(), handle.counted.latency(), handle.restarts)
        handle.status = replace(handle.status, model={"name": to, "version": "1"})

    scrapes: list[dict[str, dict[str, float]]] = []

    def scrape() -> dict[str, dict[str, float]]:
        """Per metric, its value per model label; and the sums over a decoder's series equal its totals."""
        got: dict[str, dict[str, float]] = {}
        for family in SupervisorCollector(Listing(handle)).collect():
            for s in family.samples:
                if s.labels.get("state") in (None, "running") and "le" not in s.labels and "stage" not in s.labels:
                    got.setdefault(s.name, {})[s.labels["model"]] = s.value
        totals = handle.totals()
        for k in summed:
            assert sum(got[f"bci_stream_{k}_total"].values()) == getattr(totals, k), k
        assert sum(got["bci_stream_decoder_restarts_total"].values()) == handle.restarts
        assert sum(got["bci_stream_latency_e2e_seconds_count"].values()) == handle.counted.latency()["e2e"]["n"]
        for earlier in scrapes:  # no series of a counter ever goes back, nor does its sum by decoder
            for name, values in earlier.items():
                if name.endswith(("_total", "_count")):
                    assert all(got[name][m] >= v for m, v in values.items()), (name, values, got[name])
        running = handle.status.model["name"]
        assert got["bci_stream_decoder_state"] == {running: 1.0}  # gauges: of what runs now only
        assert got["bci_stream_stall_seconds"] == {running: 0.0}
        scrapes.append(got)
        return got

    report(1, 1090, 0)
    assert scrape()["bci_stream_swaps_total"] == {"A": 0}
    swap("B", "A", 1, 1100, 1)
    got = scrape()
    assert got["bci_stream_swaps_total"] == {"A": 1, "B": 0}  # at once, in a series exported before the swap
    assert got["bci_stream_samples_in_total"] == {"A": 1100, "B": 0}
    report(1, 1550, 1)  # B decoded 450
    handle.restarts += 1  # a kill -9 while B runs: the new generation counts from 0, the totals go on
    report(2, 0, 0)
    report(2, 90, 0)
    got = scrape()
    assert got["bci_stream_samples_in_total"] == {"A": 1100, "B": 540}
    assert got["bci_stream_decoder_restarts_total"] == {"A": 0, "B": 1}
    swap("A", "B", 2, 100, 1)  # the swap back: the new generation's first swap, the decoder's second
    report(2, 630, 1)  # A decoded 530 more
    got = scrape()
    assert handle.totals().swaps == 2 and handle.totals().samples_in == 2180
    assert got["bci_stream_swaps_total"] == {"A": 1, "B": 1}
    assert got["bci_stream_samples_in_total"] == {"A": 1630, "B": 550}  # B's frozen at its run's end
    assert got["bci_stream_latency_e2e_seconds_count"] == {"A": 1630, "B": 550}
    assert got["bci_stream_decoder_restarts_total"] == {"A": 0, "B": 1}
