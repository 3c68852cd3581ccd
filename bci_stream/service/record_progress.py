"""A record-only stream's progress line (``bci-stream record`` prints one every few seconds)."""

from __future__ import annotations

from typing import Any


def progress_line(name: str, t: Any) -> str:
    """The progress line of the recording of stream ``name`` at its totals ``t`` (a
    :class:`~bci_stream.service.record_only.RecordTotals`): samples, seconds, markers (and the marker stream's
    state), lost, a stall, what was not written."""
    stalled = f"; no sample for {t.stalled_s:.0f} s" if t.stalled_s else ""
    unwritten = f"; {t.unrecorded} not written" if t.unrecorded or t.write_error else ""
    return (f"recording {name!r}: {t.samples} samples ({t.seconds:.1f} s), {t.markers} markers "
            f"(marker stream {t.marker_state}), {t.lost} lost{stalled}{unwritten}"
            + (f" ({t.write_error})" if t.write_error else ""))


__all__ = ["progress_line"]
