"""The output ring keeps when the decoder's first input data came, for a restart before any output
(its gap is counted from there: ``test_restart_before_first_output.py``)."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

from bci_stream.service.ring import OutputRing


def test_only_the_first_opening_before_any_row_is_kept():
    ring = OutputRing.create(mp.get_context("spawn"), 16, 2)
    assert ring.first_data_at() is None
    ring.note_first_data(1234.5678)
    ring.note_first_data(1240.0)  # a later generation's first data: outputs were owed from earlier
    assert ring.first_data_at() == 1234.5678
    fresh = OutputRing.create(mp.get_context("spawn"), 16, 2)
    fresh.write(np.array([0.0]), np.array([10.0]), 0, np.zeros((1, 2)))
    fresh.note_first_data(11.0)  # rows already: the last row says from when
    assert fresh.first_data_at() is None


def test_a_named_ring_holds_it_for_another_process_handle():
    ring = OutputRing.create_named(8, 3)
    try:
        ring.note_first_data(98765.4321)
        other = OutputRing(ring.handles)
        assert other.first_data_at() == 98765.4321
        other.detach()
    finally:
        ring.close()
        ring.unlink()
