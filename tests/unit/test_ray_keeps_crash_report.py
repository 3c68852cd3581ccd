"""A test that runs a Ray driver in the pytest worker leaves the worker able to report a native crash
(:mod:`support.crash_handlers`): faulthandler handles the fatal signals again. Without it, a crash later in that
worker ended as ``[gw1] node down: Not properly terminated`` with no test named (session 16's CI rehearsal). With a
real Ray driver: ``tests/integration/test_ray_code_stamp.py``."""

from __future__ import annotations

import faulthandler
import signal

import pytest

from support.crash_handlers import FATAL_SIGNALS, caught_signals, kept_crash_report


@pytest.mark.skipif(not faulthandler.is_enabled(), reason="pytest's faulthandler plugin is off")
def test_faulthandler_handles_the_fatal_signals_again(request) -> None:
    """What ``ray.shutdown()`` leaves, done by hand: the fatal signals back to their default action."""
    assert set(FATAL_SIGNALS) <= caught_signals()
    with kept_crash_report(request.config):
        for sig in FATAL_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        assert not set(FATAL_SIGNALS) & caught_signals()
    assert set(FATAL_SIGNALS) <= caught_signals()
