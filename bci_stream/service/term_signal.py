"""A worker's SIGTERM, sent to it alone (``kill PID``) or to the service's whole process group with it (``kill --
-PGID``, ``timeout``, systemd's ``KillMode=control-group``, supervisord's ``killasgroup``).

Its default action ended the worker at once: a decoder's recording was left without its last event and its
footers, its inlet and outlets not closed in order, and the service logged the ERROR of a crash in a clean shutdown
(audit s66cli F3). Now the worker stops as on a Stop (:func:`stop_on_sigterm`), and then ends by the signal
(:func:`end_if_terminated`): exit code -15, which the supervisor restarts as a crash, unless the service itself is
shutting down. A worker told to stop already (the supervisor's SIGTERM to a worker its Stop did not end in time) ends
by the signal at once, as before. One hung in C code takes it only once that returns: the supervisor's SIGKILL, 2 s
after its SIGTERM, ends it then (before, the SIGTERM did).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

#: Set once this process got SIGTERM.
TERMINATED = threading.Event()


def stop_on_sigterm(stop: Callable[[], None], stopping: Callable[[], bool]) -> None:
    """On SIGTERM: :data:`TERMINATED`, and ``stop()`` (which only sets the worker's stop flag: a signal handler); when
    ``stopping()`` already, the process ends by the signal at once."""
    def on_term(signum: int, frame: FrameType | None) -> None:
        if stopping():  # a Stop it did not finish in time: the supervisor's terminate
            TERMINATED.set()
            end_if_terminated()
        TERMINATED.set()
        stop()

    signal.signal(signal.SIGTERM, on_term)


def end_if_terminated() -> None:
    """After the worker stopped on a SIGTERM: end this process by that signal (its default action), so that its exit
    code says so (-15)."""
    if TERMINATED.is_set():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


__all__ = ["TERMINATED", "end_if_terminated", "stop_on_sigterm"]
