"""A record-only stream's wait for the outlet instance liblsl re-subscribed to be checked (a part of
:class:`~bci_stream.service.record_only.RecordOnly`).

The source came back as a new outlet instance (an amplifier program restarted): its channel count, rate and format
are checked (:meth:`~bci_stream.service.source_monitor.SourceMonitor.poll_verify`) before any of its samples is
written. Until a resolve finds that instance, the instance's first chunk is held (a copy: the puller reuses its
buffer), the later ones wait in the inlet, and each ``take`` looks again without blocking the recording's loop (which
may report a ``stall`` meanwhile, as for a silence); once the instance is found with the same shape, the held chunk is
written, then the rest, in order (a ``reconnect`` event when it is a new instance). Found with another shape:
StreamMismatchError, which ends the recording, as before. Before, an instance no resolve found within 3 s (a loaded
machine) ended the recording, for good, in a blocking 3 s wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bci_stream.service.source_monitor import SourceMonitor

POLL_S = 0.05  #: the longest a :meth:`ReturnWait.release` that finds nothing sleeps, s (the loop's other work goes on)


class ReturnWait:
    """A returned outlet instance's check for a recording: :meth:`arrived` for each chunk pulled, :meth:`release`
    while a chunk is held (:attr:`held`).

    Parameters
    ----------
    monitor
        The recording's source monitor (it flags liblsl's re-subscriptions and checks the instance).
    event
        The recording's ``event(kind, **fields)``: ``verify_wait`` (the check waits: ``predicate``, ``seq``) and
        ``reconnect`` (``uid``, ``seq``) go to the file's events stream.
    """

    def __init__(self, monitor: SourceMonitor, event: Callable[..., None]) -> None:
        self.monitor, self.event = monitor, event
        self.held: tuple[np.ndarray, np.ndarray] | None = None  # the unchecked instance's first chunk

    def arrived(self, x: np.ndarray, ts: np.ndarray, seq: int) -> bool:
        """A pulled chunk (``seq``: the index its first sample gets in the file): True when it may be written now
        (no re-subscription, or the new instance checked at once); False when it is held until the instance is
        checked (:meth:`release`).

        Raises
        ------
        StreamMismatchError
            The returned instance has another channel count, rate or format.
        """
        if not self.monitor.resubscribed():
            return True
        self.monitor.begin_verify()
        if self.check(seq):
            return True
        self.held = (x.copy(), ts.copy())
        self.event("verify_wait", predicate=self.monitor.verify_predicate(), seq=seq)
        return False

    def check(self, seq: int) -> bool:
        """Whether the returned instance is checked now (a ``reconnect`` event if it is a new one).

        Raises
        ------
        StreamMismatchError
            As :meth:`~bci_stream.service.source_monitor.SourceMonitor.poll_verify`.
        """
        try:
            verified, uid = self.monitor.poll_verify()
        except Exception:
            self.held = None  # another stream's samples (or none checked): never written
            raise
        if verified and uid is not None:
            self.event("reconnect", uid=uid, seq=seq)
        return verified

    def release(self, seq: int, wait: float) -> tuple[np.ndarray, np.ndarray] | None:
        """The held chunk once its instance is checked; None while no resolve found it yet (after sleeping up to
        ``wait`` s, at most :data:`POLL_S`, so that the caller's loop does not spin).

        Raises
        ------
        StreamMismatchError
            As :meth:`check`.
        """
        if not self.check(seq):
            if wait > 0:
                time.sleep(min(wait, POLL_S))
            return None
        held, self.held = self.held, None
        return held

    def abandoned(self) -> dict[str, Any] | None:
        """The held chunk's description when the recording ends before its instance could be checked (its samples
        are not written: nothing says they are this stream's), else None."""
        if self.held is None:
            return None
        return {"samples": len(self.held[1]), "first_timestamp": float(self.held[1][0]),
                "predicate": self.monitor.verify_predicate()}
