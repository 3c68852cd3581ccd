"""The end of a player (``simulate``, ``replay``): after its last push, its consumers given time to take what liblsl
has not sent yet (:func:`wait_for_consumers_to_leave`); after Ctrl-C or SIGTERM, no traceback.

Its outlets are destroyed at the end (liblsl's ``lsl_destroy_outlet``: tens of ms while consumers are just leaving).
A second Ctrl-C, or the SIGTERM of a script stopping the player when its recorder is done, landing in that call
raised ``KeyboardInterrupt`` inside ``StreamOutlet.__del__``, which Python prints as "Exception ignored ...
Traceback"; one landing after the player returned ended the process by the signal, not with exit code 0 (audit
s67rec F1). The player has stopped then: a stop signal asks for nothing more, and is ignored.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pylsl

#: Default longest wait, seconds, after the last push for the consumers to close their inlets before the
#: outlets are destroyed: destroying an outlet right after a push can drop the samples liblsl has not sent
#: yet (seen: the last 5 of 20,000), and a consumer still connected logs a broken transmission.
LINGER_S = 2.0
#: The signals that stop a player (SIGTERM as Ctrl-C in its command).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_signals_ignored() -> Iterator[None]:
    """SIGINT and SIGTERM ignored while the body runs, their handlers put back after it; in another thread than the
    main one (a player run by ``evaluate --live``), nothing changes (only the main thread gets signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def ignore_stop_signals() -> None:
    """From now on, SIGINT and SIGTERM are ignored (the main thread only): a command whose player has returned says
    its last line and exits 0. For the end of a process: a caller that runs the command in its own process (click's
    ``CliRunner``) sets them back after it, or the processes it starts later inherit them ignored."""
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


def wait_for_consumers_to_leave(outlets: tuple[pylsl.StreamOutlet, ...], timeout: float, stop_event: Any) -> bool:
    """Wait until no outlet of ``outlets`` has a consumer, at most ``timeout`` s or until ``stop_event`` is
    set; True when they all left. (liblsl sees an inlet go at once: ``close_stream`` closes its socket.)"""
    deadline = time.monotonic() + timeout
    while any(o.have_consumers() for o in outlets):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if stop_event is not None:
            if stop_event.wait(min(0.02, left)):
                return False
        else:
            time.sleep(min(0.02, left))
    return True


__all__ = ["LINGER_S", "STOP_SIGNALS", "ignore_stop_signals", "stop_signals_ignored", "wait_for_consumers_to_leave"]
