"""The output ring keeps the input stamp after which samples are owed an output or a count as lost, while no output
was published: a restart before any output counts its gap from there (``test_restart_before_first_output.py``)."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

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
