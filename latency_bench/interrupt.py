"""A run stopped by Ctrl-C or SIGTERM stops, whatever its clean-up raises on the way out.

A benchmark reports a path or section that fails and measures the others (``except BenchError`` / ``except
Exception``). A stop used to become such a failure: Ctrl-C in a terminal, or ``timeout``, signals the whole process
group, so the player and the path under test die with the run; the clean-up in a ``finally`` then asked the dead
player to remove its stream, and the :class:`~latency_bench.procs.BenchError` that raised replaced the
KeyboardInterrupt, so the run went on with the next path and section, wrote a report blaming the paths and exited 1
(audit s60bench F1, F2). :func:`stop_on_signals` notes the signal; every place that catches a failure and goes on
calls :func:`reraise_if_stopped` first, and the run ends with the signal's exit code (130 for Ctrl-C, 143 for
SIGTERM) once its ``finally`` blocks have stopped its processes and removed its work folder.

The handlers also mean the processes a run starts get SIGINT at its default: a signal a process catches is reset to
the default in the programs it runs, while an ignored one stays ignored. A run started in the background of a
non-interactive shell (``cmd &``, ``nohup``, a CI step) inherits SIGINT ignored, and so did the timeflux peer it
started, which the run stops with SIGINT: each timeflux phase waited 10 s and was killed (audit s60bench F3).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: The signal that stopped the run, None while it runs.
_stopped: int | None = None


def stopped() -> int | None:
    """The signal that stopped the run (``signal.SIGINT`` or ``signal.SIGTERM``), or None."""
    return _stopped


def _raise(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _stopped
    _stopped = signum
    _raise(signum)


def reraise_if_stopped() -> None:
    """Raise the stop again (KeyboardInterrupt, or SystemExit(143)) if a signal stopped the run: for a handler that
    reports a failure and goes on, whose failure may be the stop's own doing (a process killed by the same signal)."""
    if _stopped is not None:
        _raise(_stopped)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within: SIGINT and SIGTERM stop the run (their earlier handlers restored after). A run whose body returned,
    or raised another error, although a signal came (a failure handler without :func:`reraise_if_stopped`, a clean-up
    that failed on the way out) still ends with the stop."""
    global _stopped
    _stopped = None
    before = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except Exception:
        reraise_if_stopped()
        raise
    else:
        reraise_if_stopped()
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
