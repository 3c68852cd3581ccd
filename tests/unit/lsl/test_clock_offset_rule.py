"""When a stream's clock offset is taken as exactly 0 (``time_correction: auto``): a stream of this host whose LSL
estimate is within its own error, 1 ms or the round trip of the probe it came from."""

from __future__ import annotations

import pytest

from bci_stream.lsl.source import ClockOffset


@pytest.mark.parametrize(("same_host", "estimate", "round_trip", "zero"), [
    (True, 40e-6, 80e-6, True),  # loopback, an idle machine
    (True, 1.87e-3, 4.2e-3, True),  # a loaded machine: before, 1.87 ms was applied (stamps early by it)
    (True, -1.5e-3, float("nan"), False),  # no round trip known: the 1 ms bound alone
    (True, 100.0, 0.01, False),  # a process of this host on a clock of its own (a faked one): its offset applies
    (False, 40e-6, 80e-6, False),  # another host: its estimate always
])
def test_a_same_host_estimate_within_its_error_is_no_offset(same_host, estimate, round_trip, zero) -> None:
    clock = ClockOffset(mode="auto", same_host=same_host, estimate=estimate, uncertainty=round_trip)
    assert clock.reads_this_clock() is zero
