"""The shared worker's wake-up policy: which stream's pull to wait in, and how long (no clocks: times given)."""

from __future__ import annotations

import pytest

from bci_stream.service.arrivals import EARLY_S, MAX_PERIOD_S, MIN_BLOCK_S, Arrivals, plan


class M:
    def __init__(self, due: float) -> None:
        self.arrivals = Arrivals(0.0)
        self.arrivals.due = due


def test_arrivals_learn_a_streams_interval_and_predict_its_next_chunk():
    a = Arrivals(0.0)
    for k in range(40):
        a.arrived(10.0 + 0.01 * k)  # a chunk every 10 ms
    assert a.period == pytest.approx(0.01)
    assert a.due == pytest.approx(10.39 + 0.01 - EARLY_S)


def test_a_pause_does_not_teach_the_interval_and_an_overdue_stream_is_expected_later():
    a = Arrivals(0.0)
    a.arrived(1.0)
    a.arrived(1.01)
    a.arrived(1.01 + 2 * MAX_PERIOD_S)  # a pause: not an interval
    assert a.period == pytest.approx(0.01)
    now = a.due + 0.001  # nothing came when due: a late chunk is looked for again soon, not a period later
    a.missed(now)
    assert a.due == pytest.approx(now + MIN_BLOCK_S)
    before = a.due
    a.missed(now)  # not yet overdue again: unchanged
    assert a.due == before


def test_one_stream_waits_until_the_next_housekeeping():
    m = M(due=5.0)
    assert plan([m], now=1.0, deadline=1.004) == (m, pytest.approx(0.004))
    assert plan([m], now=1.0, deadline=0.5) == (m, 0.0)  # housekeeping overdue: no wait
    assert plan([], now=1.0, deadline=2.0) == (None, 0.0)


def test_several_streams_wait_in_the_one_due_first_until_the_next_is_due():
    a, b, c = M(due=1.0030), M(due=1.0010), M(due=1.0020)
    target, timeout = plan([a, b, c], now=1.0, deadline=1.005)
    assert target is b and timeout == pytest.approx(0.0020)  # until c is due
    target, timeout = plan([a, b, c], now=1.0, deadline=1.0015)
    assert target is b and timeout == pytest.approx(0.0015)  # never past the housekeeping
    a.arrivals.due = c.arrivals.due = 0.9  # overdue: still a minimum wait, no spinning
    target, timeout = plan([a, b, c], now=1.0, deadline=1.005)
    assert target in (a, c) and timeout == pytest.approx(MIN_BLOCK_S)


def test_a_stream_in_rhythm_is_expected_soon_a_silent_one_is_not():
    a = Arrivals(0.0)
    for k in range(10):
        a.arrived(2.0 + 0.01 * k)  # a chunk every 10 ms, the last at 2.09
    assert a.expected(2.0996, within=0.0005)  # due at 2.0998
    assert not a.expected(2.095, within=0.0005)
    assert not a.expected(2.5, within=0.0005)  # silent for 40 periods: not waited for
    assert not Arrivals(0.0).expected(1.0, within=0.0005)  # no rhythm learnt yet
