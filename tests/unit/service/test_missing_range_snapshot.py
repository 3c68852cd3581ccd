"""A seq range the last worker numbered but never wrote (``provenance_missing``) is reported in a status snapshot
before the ring notes it reported: a generation killed after it found the range and before its snapshot left leaves it
for the next generation, rather than losing it from ``totals`` and ``/metrics``. Real ring, real provenance outlet on
loopback, a real StatusReporter on a real pipe."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.lsl.outlets import DecodedOutlet, ProvenanceOutlet
from bci_stream.service.provenance_replay import report_missing_provenance, send_unsent_provenance, shown
from bci_stream.service.reporter import StatusReporter
from bci_stream.service.ring import OutputRing
from bci_stream.service.status_channel import StatusSender
from support.common import unique
from support.lsl import new_outlet

MISSING = {"first_seq": 5, "last_seq": 9, "at_most": 5}


class Killed(Exception):
    """The worker dies while its snapshot is being handed to its status sender."""


@pytest.fixture
def setup(models_dir):
    ring = OutputRing.create(mp.get_context("spawn"), 16, 2)
    seq = np.arange(5, dtype=np.float64)
    ring.write(seq, 1000.0 + seq / 100, 0, np.zeros((5, 2)))
    ring.note_provenance_sent(ring.head)
    ring.reserve(9)  # generation 1 numbered seq 5..9 and was killed before writing them
    card = ModelRegistry(models_dir).get("tiny-gru").card
    name = unique("fixGsnap")
    prov = ProvenanceOutlet(DecodedOutlet(new_outlet(name, f"{name}-src")[1], card), 100.0)
    reader, writer = mp.Pipe(duplex=False)
    sender = StatusSender(writer)
    reporter = StatusReporter("d1", 2, sender, 0.25, lambda kind, **fields: None)
    reporter.status.output_stream = {"name": name}
    yield ring, prov, reporter, reader
    sender.close()
    reader.close()
    prov.close()


def test_the_range_is_in_a_snapshot_sent_before_the_ring_notes_it_reported(setup):
    ring, prov, reporter, reader = setup
    events = []

    def killed(found):
        raise Killed  # generation 2 dies before its snapshot with the range is sent

    with pytest.raises(Killed):
        report_missing_provenance(ring, prov, lambda kind, **f: events.append(kind), killed)
    assert ring.unwritten_seq() == (5, 9)  # not noted reported: generation 3 reports it
    found = report_missing_provenance(ring, prov, lambda kind, **f: events.append(kind),
                                      lambda got: shown(reporter, got, True))
    assert found == {"provenance_missing": MISSING, "provenance_missing_rows": 5}
    assert reader.poll(10.0)
    decoder_id, generation, status = reader.recv()
    assert (decoder_id, generation) == ("d1", 2) and status.counters.provenance_missing_rows == 5
    assert status.output_stream["provenance_missing"] == MISSING
    assert ring.unwritten_seq() is None and events == ["provenance_missing", "provenance_missing"]
    # the replay that follows the consumer wait does not report (nor count) it again
    assert "provenance_missing" not in send_unsent_provenance(ring, prov, 0.0, lambda: False)
