"""Stamps that are no number are placed where their samples stand (:mod:`bci_stream.lsl.stamp_fill`)."""

from __future__ import annotations

import numpy as np
import pylsl

from bci_stream.lsl.stamp_fill import fill_nonfinite


def test_each_is_placed_from_its_neighbours_or_the_clock():
    ts = np.array([10.0, np.inf, np.nan, 10.3, -np.inf])
    assert fill_nonfinite(ts, None, 10.0) == 3
    np.testing.assert_allclose(ts, [10.0, 10.1, 10.2, 10.3, 10.4])
    ts = np.array([np.nan, np.nan, 5.0])  # the first chunk starts with them: from the next finite stamp, back
    assert fill_nonfinite(ts, None, 10.0) == 2
    np.testing.assert_allclose(ts, [4.8, 4.9, 5.0])
    ts = np.array([np.nan, 7.0])  # after a chunk: from the previous chunk's last stamp
    assert fill_nonfinite(ts, 6.5, 2.0) == 1
    np.testing.assert_allclose(ts, [7.0, 7.0])
    before = pylsl.local_clock()
    ts = np.array([np.inf, np.inf])  # no finite stamp at all yet: this host's clock, the chunk ending now
    assert fill_nonfinite(ts, None, 100.0) == 2
    assert before - 0.01 - 1e-6 <= ts[0] < ts[1] <= pylsl.local_clock() and np.isclose(ts[1] - ts[0], 0.01)
    ts = np.array([3.0, np.nan])  # an irregular stream (0 Hz): the neighbour's stamp
    assert fill_nonfinite(ts, None, 0.0) == 1 and ts.tolist() == [3.0, 3.0]
    ts = np.array([1.0, 2.0])
    assert fill_nonfinite(ts, None, 10.0) == 0 and ts.tolist() == [1.0, 2.0]
