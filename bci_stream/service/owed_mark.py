"""Where a decoder's input is owed from, while it published no output: the mark a restarted worker counts its gap from.

A worker that has pulled input but published nothing notes, in the output ring (shared memory that outlives it), the
stamp after which input samples are owed an output or a count as lost: the newest it pulled, or, data waiting in its
inlet before any was pulled (held for a consumer), an estimate of its oldest sample. Its next generation counts the
samples from that mark to its own first one as lost (:meth:`OwedMark.count_owed`), so each undecoded sample is
counted once, by one generation.
"""

from __future__ import annotations

import logging

import numpy as np
import pylsl

from bci_stream.core.status import WorkerStatus
from bci_stream.lsl.source import ClockOffset
from bci_stream.service.decoding import StreamDecoder
from bci_stream.service.ring import OutputRing
from bci_stream.service.stalls import AHEAD_MAX_S

log = logging.getLogger("bci_stream.worker")


class OwedMark:
    """The owed mark of a :class:`~bci_stream.service.stream_slot.StreamSlot` (its attributes, declared here)."""

    decoder_id: str
    status: WorkerStatus
    ring: OutputRing | None
    inlet: pylsl.StreamInlet | None
    clock: ClockOffset | None
    decoder: StreamDecoder | None
    sfreq: float
    owed_since: float | None  # a restart with no output before: what the last one accounted up to
    data_seen: bool  # this generation saw input data (pulled, or waiting in a held inlet)
    owed_floor: float | None  # the ring's mark before this generation noted an estimate of its own

    def note_owed_after(self, t: float, estimate: bool = False) -> None:
        """Input samples stamped after ``t`` (this host's clock) are owed an output or a count as lost, while no output
        was published: in the output ring for a restarted worker (:meth:`count_owed`) and in the status
        (``stream.owed_after``: how a Ray actor's reaches the service's ring, with ``owed_floor``). A pulled stamp
        replaces an ``estimate`` (:meth:`note_held_data`), back to it if need be, never behind the last generation's
        mark (the ``floor``): a loaded host's estimate came late and would leave the samples before it uncounted."""
        self.data_seen = True
        floor = self.owed_floor
        if estimate:
            self.owed_floor = (self.ring.owed_after() if self.ring is not None else None) or 0.0
        if self.status.stream is not None:
            self.status.stream["owed_after"] = t
            if floor is not None:
                self.status.stream["owed_floor"] = floor
        if self.ring is not None:
            self.ring.note_owed_after(t, floor)

    def note_held_data(self) -> None:
        """Input data waiting in the inlet before any was pulled (held for a consumer, or stopped first): owed after
        about the stamp of its oldest sample (now - the samples waiting / rate: later by the data's way to the inlet,
        and up to a chunk; the first stamp pulled replaces it); none: nothing."""
        if self.inlet is not None and self.sfreq > 0 and (n := self.inlet.samples_available()):
            self.note_owed_after(pylsl.local_clock() - n / self.sfreq, estimate=True)

    def count_owed(self, ts: np.ndarray) -> None:
        """The first chunk of a restarted worker when no earlier one published an output: the samples stamped after
        what the last one accounted for (:meth:`note_owed_after`) went by undecoded, a gap counted as from a last
        output. Only where the stamps read on this host's clock (the first after that, and not ahead of now by
        :data:`AHEAD_MAX_S`); else not counted, and logged."""
        since, self.owed_since = self.owed_since, None
        first = float(self.clock.mapped(ts[:1])[0])
        if since < first <= pylsl.local_clock() + AHEAD_MAX_S:
            self.decoder.gaps.resume_after(since - self.clock.offset)
        else:
            log.info("decoder %s: the samples after its last worker's (%.3f, this host's clock) are not counted: "
                     "its first sample now is stamped %.3f", self.decoder_id, since, first)
