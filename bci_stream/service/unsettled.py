"""A suspected loss still being judged when a worker is killed: judged again by the next generation.

A worker counts a loss of input samples on the stamps after it (:class:`~bci_stream.lsl.gaps.GapTracker`'s settling
window: 0.25 s of a regular stream, up to 4 s amid jitter) while it already decodes and publishes those samples. The
window dies with a killed worker, and its successor counted its own gap from the output ring's newest row, after that
window's samples: the loss was neither decoded nor counted (audit s53fuzz F2b: 451 samples of a 256 Hz stream killed
0.16 s after a 0.84 s break). So every publish leaves in the ring's header where the accounting stands
(:meth:`~bci_stream.service.ring.OutputRing.note_unsettled`), and a restarted worker resumes its tracker from the last
sample accounted for, with the samples its predecessor received after it (:func:`resume_gaps`): its own first stamps
measure the whole gap since, the break's and the one still judged, and count it once.

The ring's header is written after the status that counted a loss was sent (:meth:`StatusReporter.report_loss`), so a
loss is counted by one generation. A kill between the two (a few µs) can count a loss twice.
"""

from __future__ import annotations

import numpy as np

from bci_stream.lsl.gaps import GapTracker
from bci_stream.lsl.source import ClockOffset
from bci_stream.service.ring import OutputRing


def note_unsettled(ring: OutputRing, gaps: GapTracker, next_seq: int, clock: ClockOffset) -> None:
    """Before a chunk's rows go out: the tracker's open window, if any, into ``ring``'s header (``next_seq``: the seq
    of the next input sample, i.e. after the chunk's; ``clock`` maps the stamps to this host's clock)."""
    if gaps.w_n < 0:  # the usual case: one integer compared, one stored
        ring.note_unsettled(None)
        return
    since, received = gaps.unsettled()
    ring.note_unsettled(float(clock.mapped(np.array([since]))[0]), next_seq - received)


def resume_gaps(ring: OutputRing, gaps: GapTracker, offset: float) -> None:
    """A restarted worker's tracker, from what its predecessor accounted for: the newest row, or the sample before a
    suspected loss it was still judging (``offset``: this host's clock minus the stream's, now)."""
    last, reserved, unsettled = ring.last_timestamp(), ring.last_seq(), ring.unsettled()
    if unsettled is not None and reserved is not None and unsettled[1] <= reserved:
        since, first_seq = unsettled
        gaps.resume_after(since - offset, received=reserved + 1 - first_seq)
    elif last is not None:
        gaps.resume_after(last - offset)
