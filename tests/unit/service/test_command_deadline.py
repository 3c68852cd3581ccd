"""A command's deadline is on its sender's monotonic clock for a worker on the sender's host (the same boot), on the
wall clock only for a worker on another host (found by an audit of clock steps: a wall-clock step made a command
answered 504 apply later, or refused one its sender still waited for)."""

from __future__ import annotations

from bci_stream.core.messages import Reset, host_boot_id


def test_on_the_senders_host_only_the_monotonic_clock_counts() -> None:
    boot = host_boot_id()
    assert boot is not None  # Linux: /proc/sys/kernel/random/boot_id
    cmd = Reset(request_id=(1, 1), deadline=100.0, wall_deadline=5000.0, boot_id=boot)
    assert cmd.late(boot, 99.0, 9000.0) is None  # the wall clock stepped forward an hour: still waited for
    assert cmd.late(boot, 102.5, 1000.0) == 2.5  # stepped back an hour: answered 504 all the same
    assert cmd.late("another-boot", 99.0, 5001.0) == 1.0  # a Ray node: the wall clock is all it shares
    assert cmd.late("another-boot", 200.0, 4999.0) is None
    assert Reset(request_id=(1, 1)).late(boot, 1e9, 1e12) is None  # no deadline: never late
