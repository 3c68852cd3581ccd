"""A decoder that ends while its puller holds a run of stamps liblsl deduced from 0 (pulled from a real inlet, waiting
for a stamped sample to be placed from): the run is counted lost, and the log and the recording's ``held_lost`` event
say what it waited for. Before, those samples were in no counter of the final status."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pylsl
import pytest

from bci_stream.lsl.liblsl import ChunkPuller
from bci_stream.service.stalls import StallHandling
from support.common import unique
from support.lsl import liblsl_deduced

SFREQ = 250.0


class Slot(StallHandling):
    def __init__(self, puller: ChunkPuller) -> None:
        self.decoder_id, self.events, self.puller = "t", [], puller
        self.status = SimpleNamespace(counters=SimpleNamespace(samples_lost=0))

    def event(self, kind: str, **fields) -> None:
        self.events.append((kind, fields))


def test_a_run_held_when_the_decoder_ends_is_counted_lost_and_said() -> None:
    name = unique("heldrun")
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", 2, SFREQ, pylsl.cf_float32, f"{name}-src"))
    found = pylsl.resolve_bypred(f"name='{name}'", 1, 10.0)
    assert found
    inlet = pylsl.StreamInlet(found[0], max_buflen=360, processing_flags=0)
    inlet.open_stream(timeout=10.0)
    try:
        puller, t0 = ChunkPuller(inlet, 512, SFREQ), pylsl.local_clock()
        outlet.push_chunk(np.zeros((5, 2), np.float32), (t0 + np.arange(5) / SFREQ).tolist())
        outlet.push_chunk(np.ones((9, 2), np.float32), liblsl_deduced(9, SFREQ).tolist())  # the run, last
        got = 0
        for _ in range(50):
            got += len(puller.pull(0.2)[1])
            if puller.pending() == 9:
                break
        assert (got, puller.pending()) == (5, 9)
        slot = Slot(puller)
        slot.drop_held()  # what closing the stream does
        assert slot.status.counters.samples_lost == 9 and puller.pending() == 0
        [(kind, fields)] = slot.events
        assert kind == "held_lost" and fields["first_timestamp"] == pytest.approx(t0 + 5 / SFREQ, abs=1e-9)
        assert fields == {"samples": 9, "first_timestamp": fields["first_timestamp"],
                          "waited_for": "a stamped sample after stamps liblsl deduced from 0"}
    finally:
        inlet.close_stream()
