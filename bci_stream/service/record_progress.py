"""A record-only stream's totals and progress line (``bci-stream record`` prints one every few seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class RecordTotals:
    """What a recording holds so far: samples, their span, markers, and what was lost on the way."""

    samples: int
    seconds: float  # samples / sfreq
    markers: int
    lost: int  # samples counted lost from the timestamps (GapTracker)
    gaps: int  # steps longer than GAP_THRESHOLD_S
    backward_steps: int
    marker_state: str  # the follower's: searching, connected, lost, error
    stalled_s: float  # seconds since the last sample (0 while samples come)
    unrecorded: int = 0  # samples received but not written (the disk full, the file removed: ``write_error``)
    unrecorded_markers: int = 0
    write_error: str | None = None  # why the file is not being written now (None while it is)


def progress_line(name: str, t: Any) -> str:
    """The progress line of the recording of stream ``name`` at its totals ``t`` (a
    :class:`RecordTotals`): samples, seconds, markers (and the marker stream's
    state), lost, a stall, what was not written."""
    stalled = f"; no sample for {t.stalled_s:.0f} s" if t.stalled_s else ""
    unwritten = f"; {t.unrecorded} not written" if t.unrecorded or t.write_error else ""
    return (f"recording {name!r}: {t.samples} samples ({t.seconds:.1f} s), {t.markers} markers "
            f"(marker stream {t.marker_state}), {t.lost} lost{stalled}{unwritten}"
            + (f" ({t.write_error})" if t.write_error else ""))


__all__ = ["RecordTotals", "progress_line"]
