"""The output ring keeps the input stamp after which samples are owed an output or a count as lost, while no output
was published: a restart before any output counts its gap from there (``test_restart_before_first_output.py``)."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

from bci_stream.core.status import WorkerStatus
from bci_stream.service.owed_mark import OwedMark
from bci_stream.service.ring import OutputRing


def test_it_moves_only_forward_and_only_before_any_row():
    ring = OutputRing.create(mp.get_context("spawn"), 16, 2)
    assert ring.owed_after() is None
    ring.note_owed_after(1234.5678)
    ring.note_owed_after(1240.0)  # a later chunk pulled (or a later generation's): accounted for up to there
    ring.note_owed_after(1239.0)  # never back (a Ray actor's status noted after its own ring said more)
    assert ring.owed_after() == 1240.0
    ring.write(np.array([0.0]), np.array([1241.0]), 0, np.zeros((1, 2)))
    ring.note_owed_after(1250.0)  # a row: its stamp says from when, the mark stays as it was
    assert ring.owed_after() == 1240.0


def test_a_named_ring_holds_it_for_another_process_handle():
    ring = OutputRing.create_named(8, 3)
    try:
        ring.note_owed_after(98765.4321)
        other = OutputRing(ring.handles)
        assert other.owed_after() == 98765.4321
        other.detach()
    finally:
        ring.close()
        ring.unlink()


def test_a_pulled_stamp_replaces_an_estimate_back_to_the_last_generations_mark_at_most():
    """``floor`` given (the stamp was pulled: exact): it replaces the mark even backwards (an estimate this generation
    noted, late on a loaded host), never below ``floor`` (what the last generation accounted for)."""
    ring = OutputRing.create(mp.get_context("spawn"), 16, 2)
    ring.note_owed_after(100.0)  # the last generation's
    ring.note_owed_after(105.0)  # this one's estimate (about the oldest sample waiting in its inlet)
    ring.note_owed_after(103.0, floor=100.0)  # the newest stamp it pulled: before the estimate
    assert ring.owed_after() == 103.0
    ring.note_owed_after(99.0, floor=100.0)
    assert ring.owed_after() == 100.0  # never behind the last generation's mark: no sample counted twice


class _Slot(OwedMark):
    """The attributes :class:`OwedMark` reads (a StreamSlot's), with a real ring and no inlet."""

    def __init__(self, ring: OutputRing) -> None:
        self.decoder_id, self.ring, self.inlet, self.clock, self.decoder, self.sfreq = "d", ring, None, None, None, 500.0
        self.status = WorkerStatus(stream={})
        self.owed_since, self.data_seen, self.owed_floor = None, False, None


def test_a_slot_s_estimate_gives_way_to_the_stamp_it_pulls_and_its_status_carries_the_floor():
    """A worker's estimate (:meth:`OwedMark.note_held_data`: now - waiting / rate) came after the samples it then
    pulled (they reached its inlet late): the last pulled stamp is the mark, in its ring and in its status (with the
    floor: how a Ray actor's reaches the service's ring, which applies the same rule). Before, the mark stayed at the
    estimate, and the samples between the two were counted by no generation (a loaded run: 173 of 1,730)."""
    ring = OutputRing.create(mp.get_context("spawn"), 16, 2)
    ring.note_owed_after(100.0)  # the last generation's mark
    slot = _Slot(ring)
    slot.note_owed_after(105.0, estimate=True)
    assert ring.owed_after() == 105.0 and slot.data_seen and "owed_floor" not in slot.status.stream
    slot.note_owed_after(103.0)  # pulled at its stop
    assert ring.owed_after() == 103.0
    assert slot.status.stream == {"owed_after": 103.0, "owed_floor": 100.0}
    service_ring = OutputRing.create(mp.get_context("spawn"), 16, 2)  # the service's, fed from a Ray actor's status
    service_ring.note_owed_after(105.0)
    service_ring.note_owed_after(slot.status.stream["owed_after"], slot.status.stream["owed_floor"])
    assert service_ring.owed_after() == 103.0
    plain = _Slot(OutputRing.create(mp.get_context("spawn"), 16, 2))  # no estimate: only forward, as ever
    plain.ring.note_owed_after(110.0)
    plain.note_owed_after(103.0)
    assert plain.ring.owed_after() == 110.0 and "owed_floor" not in plain.status.stream
