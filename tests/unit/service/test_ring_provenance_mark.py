"""The output ring's provenance mark: which rows' provenance a worker generation left unsent, what its next
generation sends (real LSL on loopback: a provenance outlet and a real inlet), and that nothing is sent twice."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pylsl

from bci_stream.core.registry import ModelRegistry
from bci_stream.lsl.outlets import DecodedOutlet, ProvenanceOutlet
from bci_stream.service.provenance_replay import SentMark, send_unsent_provenance
from bci_stream.service.ring import HEADER, HEADER_BYTES, OutputRing
from support.common import unique
from support.lsl import new_outlet, open_output, wait_for


def write(ring: OutputRing, first: int, n: int, epoch: int = 0) -> None:
    seq = np.arange(first, first + n, dtype=np.float64)
    ring.write(seq, 1000.0 + seq / 100, epoch, np.zeros((n, ring.n_outputs)))


def test_the_unsent_rows_are_those_from_the_mark_and_the_overwritten_ones_are_counted():
    ring = OutputRing.create(mp.get_context("spawn"), 8, 2)
    assert HEADER == 10 and ring.handles.head._length_ == HEADER
    assert ring.unsent_provenance()[0].shape == (0, 3) and ring.unsent_provenance()[1] == 0  # nothing written yet
    write(ring, 0, 5)
    ring.note_provenance_sent(2)
    rows, lost = ring.unsent_provenance()
    assert rows[:, 0].tolist() == [2, 3, 4] and lost == 0
    assert rows[:, 1].tolist() == [1000.02, 1000.03, 1000.04] and rows[:, 2].tolist() == [0, 0, 0]
    write(ring, 5, 20, epoch=3)  # head 25: rows 17..24 still held, 2..16 overwritten
    rows, lost = ring.unsent_provenance()
    assert rows[:, 0].tolist() == list(range(17, 25)) and lost == 15 and set(rows[:, 2]) == {3}
    ring._head[1] = ring.head + 3  # a write cut short (the worker killed in it): 3 more slots may be torn
    rows, lost = ring.unsent_provenance()
    assert rows[:, 0].tolist() == list(range(20, 25)) and lost == 18 + 3  # + that write's own rows (on LSL only)
    ring.note_provenance_sent(ring.head)
    ring._head[1] = ring.head  # the next generation's writes
    assert len(ring.unsent_provenance()[0]) == 0 and ring.unsent_provenance()[1] == 0


def test_a_named_ring_has_the_same_header():
    ring = OutputRing.create_named(8, 1)
    try:
        assert ring._shm.size >= HEADER_BYTES + 8 * 8 * 4
        write(ring, 0, 3)
        ring.note_provenance_sent(1)
        ring.note_consumers(True, False)
        other = OutputRing(ring.handles)  # the worker's view of it, attached by name
        assert other.provenance_sent == 1 and other.had_consumers() is True
        assert other.had_provenance_consumers() is False
        assert other.unsent_provenance()[0][:, 0].tolist() == [1, 2]
    finally:
        ring.unlink()


def pull(inlet: pylsl.StreamInlet, n: int) -> tuple[list, list]:
    ys, ts = [], []
    for _ in range(100):  # at most ~20 s
        y, t = inlet.pull_chunk(timeout=0.2)
        ys += y
        ts += t
        if len(ts) >= n:
            break
    y, t = inlet.pull_chunk(timeout=0.3)  # anything more would be a duplicate
    return ys + y, ts + t


def test_the_next_generation_sends_what_was_queued_once_and_a_graceful_close_leaves_nothing(models_dir):
    name = unique("fixAmark")
    source_info = new_outlet(name, f"{name}-src")[1]
    card = ModelRegistry(models_dir).get("tiny-gru").card
    decoded = DecodedOutlet(source_info, card)
    ring = OutputRing.create(mp.get_context("spawn"), 64, card.n_outputs)

    def provenance_outlet() -> ProvenanceOutlet:  # one per worker generation, the same source_id
        return ProvenanceOutlet(decoded, 100.0, flush_interval=3600.0,
                                on_flush=lambda: ring.note_provenance_sent(ring.head))

    prov = provenance_outlet()
    inlet = open_output(f"{name}-decoded-provenance")
    wait_for(prov.outlet.have_consumers, 10, "the provenance inlet")
    # generation 1: rows 0..3 sent (the first batch is due at once), rows 4..6 still queued when it is killed
    for first, n in ((0, 4), (4, 3)):
        write(ring, first, n, epoch=1)
        seq = np.arange(first, first + n, dtype=np.float64)
        prov.push(seq, 1, 1000.0 + seq / 100)
    assert ring.provenance_sent == 4 and ring.head == 7
    ys, ts = pull(inlet, 4)
    del prov  # killed: its outlet goes without a flush
    # generation 2: a new outlet (the inlet re-subscribes to it) sends rows 4..6, and nothing on a second call
    prov2 = provenance_outlet()
    out = send_unsent_provenance(ring, prov2, pylsl.local_clock() + 15.0, lambda: False)
    assert out == {"provenance_replayed": 3, "provenance_unrecoverable": 0}
    assert ring.provenance_sent == 7
    assert send_unsent_provenance(ring, prov2, 0.0, lambda: False) == {}
    ys2, ts2 = pull(inlet, 3)
    ys, ts = ys + ys2, ts + ts2
    assert [row[0] for row in ys] == list(range(7)) and all(row[1] == 1 for row in ys)
    np.testing.assert_allclose(ts, 1000.0 + np.arange(7) / 100)
    # a graceful end: the close flushes and moves the mark to the head; the next generation sends nothing
    write(ring, 7, 2, epoch=1)
    prov2.push(np.array([7.0, 8.0]), 1, np.array([1000.07, 1000.08]))
    assert ring.provenance_sent == 7
    prov2.close()
    assert ring.provenance_sent == ring.head == 9
    assert send_unsent_provenance(ring, provenance_outlet(), 0.0, lambda: False) == {}


def test_where_the_accounting_stands_is_left_for_the_next_generation():
    """note_unsettled / unsettled (service/unsettled.py): a suspected loss still judged, then judged."""
    ring = OutputRing.create(mp.get_context("spawn"), 8, 2)
    assert ring.unsettled() is None  # a new ring: all accounted for
    ring.note_unsettled(1234.5678, first_seq=0)
    assert ring.unsettled() == (1234.5678, 0)
    ring.note_unsettled(None)
    assert ring.unsettled() is None


def test_the_mark_moves_past_a_batch_only_once_it_had_time_to_leave():
    """A push is no delivery: liblsl's thread sends it later, and a worker killed just after the push of a loaded host
    left a hole of 20 rows at the kill (the mark had moved at the push). The mark (``SentMark``) now moves past the
    rows pushed ``delivery_s`` ago at a later flush (one with nothing queued too), and to the head at a graceful
    close."""
    ring = OutputRing.create(mp.get_context("spawn"), 64, 2)
    mark = SentMark(ring, delivery_s=3600.0)  # not yet delivered, whatever the machine's pace
    write(ring, 0, 5)
    mark.flushed()  # rows 0-4 pushed now
    write(ring, 5, 3)
    mark.flushed()  # 5-7 pushed now
    mark.flushed()  # nothing queued
    assert ring.provenance_sent == 0 and len(ring.unsent_provenance()[0]) == 8
    mark.delivery_s = 0.0  # both batches' time has come: the next flush marks them, none queued or some
    mark.flushed()
    assert ring.provenance_sent == 8
    mark.delivery_s = 3600.0
    write(ring, 8, 4)
    mark.flushed()
    assert ring.provenance_sent == 8 and ring.unsent_provenance()[0][:, 0].tolist() == [8, 9, 10, 11]
    mark.closed()  # a graceful close: every row flushed
    assert ring.provenance_sent == 12 and len(ring.unsent_provenance()[0]) == 0
