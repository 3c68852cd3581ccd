"""Short losses of an XDF signal stream whose timestamps jitter, found net of the jitter as the service finds them.

A stream whose stamps need de-jittering (chunks stamped on arrival over Bluetooth, a stair-case of equal stamps per
chunk: :func:`~bci_stream.io.xdf_clock.step_irregularity` above its tolerance) gets a least-squares line of stamp
against sample per part of the recording (:func:`~bci_stream.io.xdf_clock.dejitter`). A loss shorter than a jump
(0.5 s) inside a part was spread by that line over the whole part, moving its markers by up to half the loss. So the
reader looks for such losses with the service's own estimator (:class:`~bci_stream.lsl.gaps.GapTracker`, on the stamps
as written, part by part: a loss is counted net of the jitter, a catch-up burst or a stair is none), breaks the line
there (:func:`jittered_losses`), and says where and how many (:func:`warn_jittered_losses`). A loss no larger than the
jitter is not seen, as in the service (README, samples_lost), and stays spread.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from bci_stream.core.channels import shortlist
from bci_stream.core.status import Counters
from bci_stream.io.errors import RecordingWarning
from bci_stream.io.xdf_clock import jump_threshold, part_edges
from bci_stream.lsl.gaps import GapTracker

__all__ = ["jittered_losses", "warn_jittered_losses"]

#: Samples fed to the tracker at a time (as a decoder pulls them; the count does not depend on it)
CHUNK = 32


def jittered_losses(stamps: np.ndarray, sfreq: float, jumps: Sequence[int]) -> list[tuple[int, int]]:
    """``(first sample after, samples lost)`` of each loss the tracker counts in ``stamps`` (a stream at ``sfreq``),
    part by part between the ``jumps`` (and the steps back longer than a jump). The tracker counts a gap when its window
    closes, from where a late stamp opened it (up to seconds before the loss amid Bluetooth jitter): the loss lies after
    the last stamp there within half of it of the stamps' floor before (jitter only makes stamps late, and after the
    loss every offset is up by its size), the rate error taken out."""
    stamps = np.asarray(stamps, dtype=np.float64)
    found: list[tuple[int, int]] = []
    edges = part_edges(stamps, sfreq, jumps)
    for a, b in zip(edges[:-1], edges[1:]):
        tracker, c = GapTracker(sfreq, jump_threshold(sfreq)), Counters()
        gaps: dict[int, tuple[int, int]] = {}  # the window that opened each gap: (samples lost, sample counted at)
        for i in [*range(a, b, CHUNK), b]:
            before = c.samples_lost
            if i < b:
                tracker.split(stamps[i:min(i + CHUNK, b)], c)
            else:  # the part's end: as at a stall (a window of regular stamps closes; one of jittered stamps stays)
                tracker.settle(c)
            if c.samples_lost > before:
                n, _ = gaps.get(tracker.chain_start, (0, 0))
                gaps[tracker.chain_start] = (n + c.samples_lost - before, tracker.count)
        offsets = stamps[a:b] * sfreq - np.arange(b - a)
        for start, (n, end) in sorted(gaps.items()):
            lo = max(0, start - tracker.window)
            x = offsets[lo:end] - tracker.slope * np.arange(lo - start, end - start)
            floor = float(x[:start - lo + 1].min())
            timely = np.flatnonzero(x[start - lo:] < floor + n * (1.0 + tracker.slope) / 2)
            at = start + (int(timely[-1]) + 1 if len(timely) else 0)
            found.append((a + min(max(at, 1), b - a - 1), n))  # a break inside the part
    return found


def warn_jittered_losses(losses: list[tuple[int, int]], sfreq: float, *, file: str, signal: str) -> None:
    """Say ``losses`` (:func:`jittered_losses`) of the signal stream ``signal`` of ``file`` in a RecordingWarning."""
    if not losses:
        return
    where = shortlist([f"sample {k} (t={k / sfreq:.3f} s in the file, {n} lost)" for k, n in losses], 4)
    warnings.warn(f"{file}: stream {signal!r} lost {sum(n for _, n in losses)} sample(s) in {len(losses)} place(s), "
                  f"each for {jump_threshold(sfreq):g} s or less (no jump), found net of its timestamps' jitter, at "
                  f"{where}: its samples are back to back there, as a decoder received them, with no event (a trial "
                  "across a loss holds that many samples fewer); its markers are placed by a line through its "
                  "timestamps per part between these losses", RecordingWarning, stacklevel=3)
