"""The output ring keeps when the first worker generation's input inlet opened, for a restart before any output
(its gap is counted from there: ``test_restart_before_first_output.py``)."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

from bci_stream.service.ring import OutputRing


def test_only_the_first_opening_before_any_row_is_kept():
    ring = OutputRing.create(mp.get_context("spawn"), 16, 2)
    assert ring.opened_at() is None
    ring.note_opened(1234.5678)
    ring.note_opened(1240.0)  # a later generation's opening: the first one owed outputs from earlier
    assert ring.opened_at() == 1234.5678
    fresh = OutputRing.create(mp.get_context("spawn"), 16, 2)
    fresh.write(np.array([0.0]), np.array([10.0]), 0, np.zeros((1, 2)))
    fresh.note_opened(11.0)  # rows already: the last row says from when
    assert fresh.opened_at() is None


def test_a_named_ring_holds_it_for_another_process_handle():
    ring = OutputRing.create_named(8, 3)
    try:
        ring.note_opened(98765.4321)
        other = OutputRing(ring.handles)
        assert other.opened_at() == 98765.4321
        other.detach()
    finally:
        ring.close()
        ring.unlink()
