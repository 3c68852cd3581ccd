"""A ring write cut short (its worker killed in it: the rows went out on LSL before the write began) still reserves
its rows' seq: the next worker generation numbers its rows after them, so one seq never names two samples."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

from bci_stream.service.ring import OutputRing


def rows(first: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seq = np.arange(first, first + n, dtype=np.float64)
    return seq, 1000.0 + seq / 100, np.zeros((n, 2))


def cut_short(ring: OutputRing, seq: np.ndarray, y: np.ndarray) -> None:
    """A real write that stops partway, as a killed writer's would: its timestamps run out after two rows
    (the seq column is in place, the rest of the rows not), leaving the shared memory as a kill at that point does."""
    with pytest.raises(ValueError):
        ring.write(seq, np.array([1000.0, 1000.01]), 0, y)


@pytest.mark.parametrize("named", [False, True], ids=["inherited", "named"])
def test_the_next_generation_numbers_after_a_write_cut_short(named):
    ring = OutputRing.create_named(8, 2) if named else OutputRing.create(mp.get_context("spawn"), 8, 2)
    try:
        assert ring.last_seq() is None
        ring.write(*rows(0, 5)[:2], 0, rows(0, 5)[2])
        assert ring.last_seq() == 4
        seq = np.array([5.0, 6.0, 9.0])  # seq 7 and 8 were rejected input samples: a hole, and 9 the highest
        cut_short(ring, seq, np.zeros((3, 2)))
        assert ring.head == 5 and ring.pending == 8  # the write never published: readers see rows 0..4 only
        next_gen = OutputRing(ring.handles)  # the restarted worker's view of the same memory
        assert next_gen.last_seq() == 9  # not 4: 5, 6 and 9 went out on LSL with the killed worker
        assert next_gen.unsent_provenance()[1] == 3  # their provenance is counted unrecoverable, as before
    finally:
        ring.unlink()


def test_a_first_write_cut_short_reserves_too():
    ring = OutputRing.create(mp.get_context("spawn"), 8, 2)
    cut_short(ring, np.array([0.0, 1.0, 2.0]), np.zeros((3, 2)))
    assert ring.head == 0 and ring.last_seq() == 2


def test_a_reservation_before_the_push_counts_without_a_write():
    """The worker reserves a chunk's seq before it pushes the chunk on LSL: a kill between the push and the ring
    write leaves the reservation, so the next generation numbers after rows it never saw in the ring."""
    ring = OutputRing.create(mp.get_context("spawn"), 8, 2)
    ring.reserve(0)  # seq 0 reserved: told apart from a ring nothing was reserved in
    assert ring.head == 0 and ring.last_seq() == 0
    ring.write(*rows(0, 3)[:2], 0, rows(0, 3)[2])
    ring.reserve(7)  # rows 3..7 pushed, the worker killed before it wrote them
    assert OutputRing(ring.handles).last_seq() == 7 and ring.head == 3
    ring.reserve(5)  # a reservation never moves back
    assert ring.last_seq() == 7
