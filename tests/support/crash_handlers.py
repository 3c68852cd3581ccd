"""Keep a pytest worker's crash report when a test runs a Ray driver in the test process.

pytest's faulthandler prints every thread's Python traceback when a test process dies of SIGSEGV, SIGFPE,
SIGABRT, SIGBUS or SIGILL: the only way a native crash in a pytest-xdist worker names its test (xdist itself
says only ``node down: Not properly terminated``). A Ray driver in the test process (``ray.init``: the supervisor's
Ray backend) installs Ray's own fatal-signal handlers over faulthandler's, and ``ray.shutdown()`` leaves SIGSEGV,
SIGFPE, SIGABRT and SIGILL at their default action (Ray 2.60, read from ``/proc/self/status``; a Ray head node
alone leaves them as they were). A native crash later in that worker then killed it without a word: session 16's
CI rehearsal lost the name of the test that crashed gw1 34 s after ``test_ray_backend``'s driver shut down.
:func:`kept_crash_report` turns faulthandler back on when the Ray work ends. (Ray's SIGTERM handler is the other
thing a Ray start leaves behind: :class:`bci_stream.service.backends.ray_backend.kept_signal_handlers`.)
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

FATAL_SIGNALS = (signal.SIGSEGV, signal.SIGFPE, signal.SIGABRT, signal.SIGBUS, signal.SIGILL)
"""The signals faulthandler reports."""


def caught_signals() -> set[signal.Signals]:
    """The signals this process has a handler for (``SigCgt`` of ``/proc/self/status``; Linux only).

    Python's ``signal.getsignal`` cannot tell: faulthandler's handlers and Ray's are installed in C.
    """
    with open(f"/proc/{os.getpid()}/status") as status:
        mask = next(int(line.split()[1], 16) for line in status if line.startswith("SigCgt:"))
    return {sig for sig in signal.Signals if mask >> (sig.value - 1) & 1}


def _faulthandler_file(config: Any) -> Any:
    """Where pytest's faulthandler writes (its copy of the real stderr: fd 2 is captured during a test)."""
    try:
        from _pytest.faulthandler import fault_handler_stderr_fd_key

        return config.stash[fault_handler_stderr_fd_key]
    except (ImportError, AttributeError, KeyError):  # another pytest, or its faulthandler plugin is off
        return sys.__stderr__


@contextmanager
def kept_crash_report(config: Any = None) -> Iterator[None]:
    """Around Ray work in the test process: on exit, faulthandler (when it was on) handles the fatal signals
    again, writing where pytest's faulthandler wrote (``config``: the pytest config; None: ``sys.__stderr__``)."""
    enabled = faulthandler.is_enabled()
    try:
        yield
    finally:
        if enabled:
            faulthandler.disable()  # enable() alone does nothing while faulthandler believes it is on
            faulthandler.enable(file=_faulthandler_file(config), all_threads=True)
