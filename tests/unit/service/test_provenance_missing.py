"""A worker killed after it numbered a chunk (the ring's reservation, before the LSL push) and before its ring write
began: those rows may be on LSL, the ring never held them, and their provenance is nowhere. The next generation
numbers after them (also when the ring holds no row at all: a real :class:`StreamSlot` attach) and reports the seq
range as ``provenance_missing`` (an upper bound) in its status, the log and the recording's events. Real LSL
outlets on loopback; a real model for the attach."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pylsl
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.lsl.outlets import DecodedOutlet, ProvenanceOutlet
from bci_stream.lsl.units import UnitScale
from bci_stream.service.provenance_replay import send_unsent_provenance
from bci_stream.service.ring import OutputRing
from bci_stream.service.status_channel import StatusSender
from bci_stream.service.stream_slot import StreamSlot
from bci_stream.service.stream_units import StreamUnits
from support.common import TINY_CH_NAMES, TINY_SFREQ, unique
from support.lsl import new_outlet


def written(ring: OutputRing, first: int, n: int) -> None:
    seq = np.arange(first, first + n, dtype=np.float64)
    ring.write(seq, 1000.0 + seq / 100, 0, np.zeros((n, ring.n_outputs)))


@pytest.fixture
def ring():
    return OutputRing.create(mp.get_context("spawn"), 16, 2)


def test_the_ring_tells_a_reservation_never_written(ring):
    assert ring.unwritten_seq() is None  # nothing reserved
    written(ring, 0, 5)
    assert ring.unwritten_seq() is None  # every reserved seq is in the ring
    ring.reserve(9)  # the next chunk (seq 5..9, some perhaps rejected) numbered, then the kill
    assert ring.unwritten_seq() == (5, 9)
    written(ring, 5, 5)
    assert ring.unwritten_seq() is None


def test_a_reservation_before_any_row(ring):
    ring.reserve(7)
    assert ring.last_timestamp() is None and ring.unwritten_seq() == (0, 7)


def test_a_write_cut_short_is_counted_as_unrecoverable_not_missing(ring):
    written(ring, 0, 3)
    with pytest.raises(ValueError):  # its timestamps run out after two rows: pending stored, head not
        ring.write(np.array([3.0, 4.0, 5.0]), np.array([1000.0, 1000.01]), 0, np.zeros((3, 2)))
    assert ring.unwritten_seq() is None and ring.unsent_provenance()[1] == 3


def test_the_next_generation_reports_the_missing_range(models_dir, ring):
    card = ModelRegistry(models_dir).get("tiny-gru").card
    name = unique("fixGmissing")
    prov = ProvenanceOutlet(DecodedOutlet(new_outlet(name, f"{name}-src")[1], card), 100.0)
    written(ring, 0, 5)
    ring.note_provenance_sent(ring.head)  # generation 1 sent every row's provenance it wrote
    ring.reserve(9)  # and was killed after it numbered the next chunk, before writing it
    events = []
    sent = send_unsent_provenance(ring, prov, pylsl.local_clock() + 1.0, lambda: False,
                                  lambda kind, **fields: events.append((kind, fields)))
    missing = {"first_seq": 5, "last_seq": 9, "at_most": 5}
    assert sent == {"provenance_missing": missing, "provenance_missing_rows": 5}  # the rows also a counter
    assert events == [("provenance_missing", missing)]
    # generation 2 dies before it writes a row: generation 3 does not report the same range again (review 2, 6)
    assert ring.unwritten_seq() is None
    assert send_unsent_provenance(ring, prov, pylsl.local_clock() + 1.0, lambda: False,
                                  lambda kind, **fields: events.append((kind, fields))) == {}
    ring.reserve(12)  # generation 3 numbered 10..12 and was killed before writing them: only those are new
    assert ring.unwritten_seq() == (10, 12) and len(events) == 1
    prov.close()


def test_attach_numbers_after_a_reservation_when_the_ring_holds_no_row(models_dir):
    """Generation 1 numbered its first chunk (seq 0..7) and was killed before writing it: generation 2 starts at 8,
    not at 0 (the ring's head is 0, so there is no row to carry on from)."""
    ring = OutputRing.create(mp.get_context("spawn"), 16, 3)  # tiny-gru's 3 outputs (a worker refuses a misfit)
    ring.reserve(7)
    a, b = mp.Pipe()
    status_r, status_w = mp.Pipe(duplex=False)
    sender = StatusSender(status_w)
    spec = DecoderSpec.model_validate({"stream": {"name": "fixG-none"}, "model": "tiny-gru"})
    slot = StreamSlot("d1", 2, spec, str(models_dir), b, sender, ring=ring.handles)
    try:
        slot.load()
        n = len(TINY_CH_NAMES)
        slot.sfreq = TINY_SFREQ
        slot.units = StreamUnits(UnitScale(np.ones(n), ["uV"] * n, False), None, TINY_SFREQ, "fixG-none")
        slot.attach()
        assert slot.decoder.seq == 8 and not slot.resumed
    finally:
        sender.close()
        a.close()
