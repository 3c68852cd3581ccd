"""A recorded stream's timestamps judged as a decoder judges its input's
(:class:`~bci_stream.service.stamp_checks.StampChecks`): a sender that stamps on another clock than LSL's (Unix time)
or sends at another rate than it declares is said while the session is recorded, when the subject is still there,
not at ``calibrate`` (before, ``bci-stream record`` wrote such a session without a word, every marker on its first
sample or its rate wrong, and only the reader said so later: audit s69record F1). Each warning is a note (printed by
``bci-stream record`` at once, listed by ``GET /recordings``) and, as a decoder's, a ``timestamps_rate_warning`` /
``timestamps_clock_warning`` event in the file (message null when it ends)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bci_stream.lsl.source import ClockOffset
from bci_stream.service.stamp_checks import StampChecks


class RecordStamps:
    """The stamp checks of one recorded stream ``name`` (nominal rate ``sfreq`` > 0, replay ``speed``), mapped to
    this host's clock by ``clock``; warnings into ``notes`` (each kind's first) and ``event(kind, **fields)``."""

    def __init__(self, name: str, sfreq: float, speed: float, clock: ClockOffset, notes: list[str],
                 event: Callable[..., None]) -> None:
        self.name, self.clock, self.notes, self.event = name, clock, notes, event
        self.checks = StampChecks(sfreq, speed)
        self._noted: set[str] = set()

    def feed(self, ts: np.ndarray) -> None:
        """Take one pulled chunk's stamps (the sender's clock, as written)."""
        if not len(ts):
            return
        for kind, why in self.checks.take(ts, self.clock):
            if why is not None and kind not in self._noted:  # once per kind: a note is for the lab to act on
                self._noted.add(kind)
                self.notes.append(f"stream {self.name!r}: {why}")
            self.event(f"timestamps_{kind}", message=why)

    def describe(self) -> dict[str, Any]:
        """The checks' figures (``sender_rate_hz``, ``rate_warning``, ``clock_warning``, ``clock_ahead_s``)."""
        return self.checks.describe()
