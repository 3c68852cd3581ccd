"""Markers on the samples of an XDF signal stream, across clock resets that the file's clock offsets do not resolve.

pyxdf puts every stream on the recorder's clock with the file's clock offsets, and with ``handle_clock_resets``
it maps the parts before and after a reset of a sender's clock (a restarted or swapped computer) separately.
A stream without clock offsets (or whose offsets do not show the reset) keeps its own clock, so its timestamps
**go back** at the reset and the file holds several *parts* on unrelated time axes. A marker is then placed in a
part by its timestamp, which can be ambiguous:

* the marker stream goes back as often as the signal (both on the one sender's clock, the usual case): its
  parts are paired with the signal's in order; a marker outside its part's time span is dropped like a marker
  outside a recording, and one inside another part's span but not its own is refused;
* otherwise a marker goes in the one part whose time span holds it; when several hold it, the file is refused.

A refusal names the file, the streams, where the signal's timestamps go back and the first marker that cannot
be placed; a file that loads says (a :class:`~bci_stream.io.errors.RecordingWarning`) where its timestamps go back
and how many markers were placed or dropped: nothing is lost silently. (A jump back of less than pyxdf's
jitter-break threshold, max(1 s, 500 samples), is smoothed by pyxdf's de-jittering before it gets here and cannot
be seen.)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from bci_stream.core.channels import shortlist
from bci_stream.io.errors import DataError, RecordingWarning


def parts_of(stamps: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` sample ranges of ``stamps`` between the places where they go back (one range when they
    never do)."""
    back = np.flatnonzero(np.diff(stamps) < 0) + 1
    edges = [0, *back.tolist(), len(stamps)]
    return list(zip(edges[:-1], edges[1:]))


def _nearest(stamps: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Index of the sample of (non-decreasing) ``stamps`` nearest each of ``times`` (the earlier one on a tie)."""
    if len(stamps) == 1:
        return np.zeros(len(times), dtype=np.int64)
    idx = np.clip(np.searchsorted(stamps, times), 1, len(stamps) - 1)
    return np.where(np.abs(stamps[idx - 1] - times) <= np.abs(stamps[idx] - times), idx - 1, idx)


def place_markers(stamps: np.ndarray, m_stamps: np.ndarray, sfreq: float, *, file: str, signal: str,
                  markers: str, values: Sequence[str] = ()) -> np.ndarray:
    """The sample of each marker (``-1``: outside the recording's time span, dropped), for signal timestamps
    ``stamps`` and marker timestamps ``m_stamps`` (after pyxdf).

    Raises
    ------
    DataError
        When the signal's timestamps go back (a clock reset the file's clock offsets do not resolve) and a marker
        cannot be placed in one part: the error names ``file``, the streams, where the timestamps go back and the
        marker (its value from ``values`` when given).
    """
    half = 0.5 / sfreq
    m_stamps = np.asarray(m_stamps, dtype=np.float64)
    parts = parts_of(stamps)
    if len(parts) == 1:
        inside = (m_stamps >= stamps[0] - half) & (m_stamps <= stamps[-1] + half)
        return np.where(inside, _nearest(stamps, m_stamps), -1)
    spans = [(stamps[a] - half, stamps[b - 1] + half) for a, b in parts]
    m_parts = parts_of(m_stamps)
    paired = len(m_parts) == len(parts)
    own = np.zeros(len(m_stamps), dtype=np.int64)
    for k, (a, b) in enumerate(m_parts):
        own[a:b] = k
    out = np.full(len(m_stamps), -1, dtype=np.int64)
    for k, t in enumerate(m_stamps):
        holds = [p for p, (lo, hi) in enumerate(spans) if lo <= t <= hi]
        if not holds:
            continue
        if paired and own[k] in holds:
            p = int(own[k])
        elif not paired and len(holds) == 1:
            p = holds[0]
        else:
            _refuse(stamps, parts, m_parts, k, t, holds, paired, file=file, signal=signal, markers=markers,
                    value=values[k] if k < len(values) else None)
        a, b = parts[p]
        out[k] = a + int(_nearest(stamps[a:b], np.array([t]))[0])
    dropped = int((out < 0).sum())
    warnings.warn(f"{file}: the timestamps of stream {signal!r} go back {len(parts) - 1} time(s), at "
                  f"{_where(stamps, parts)}: a clock reset that the file's clock offsets do not resolve; each marker "
                  f"of {markers!r} was placed in the part of the recording whose time span holds it"
                  + (" (paired in order: the markers go back as often)" if paired else "")
                  + f": {len(out) - dropped} placed, {dropped} outside every part dropped", RecordingWarning,
                  stacklevel=3)
    return out


def _refuse(stamps: np.ndarray, parts: list[tuple[int, int]], m_parts: list[tuple[int, int]], k: int, t: float,
            holds: list[int], paired: bool, *, file: str, signal: str, markers: str, value: str | None) -> None:
    where = _where(stamps, parts)
    spans = ", ".join(f"part {p + 1} (samples {parts[p][0]}-{parts[p][1] - 1}, {stamps[parts[p][0]]:.3f}-"
                      f"{stamps[parts[p][1] - 1]:.3f} s)" for p in holds)
    what = f"marker {k}" + (f" ({value!r})" if value is not None else "") + f" at {t:.3f} s"
    if paired:
        why = (f"{markers!r} goes back as often, so its part {_part_of(m_parts, k) + 1} pairs with the signal's, "
               f"but {what} falls in the time span of {spans} instead")
    else:
        why = (f"{markers!r} goes back {len(m_parts) - 1} time(s), so its parts cannot be paired with the signal's, "
               f"and {what} falls in the time span of {spans}")
    raise DataError(
        f"{file}: the timestamps of stream {signal!r} go back {len(parts) - 1} time(s), at {where}: a clock reset "
        f"that the file's clock offsets do not resolve (none recorded, or none across the reset), so the "
        f"{len(parts)} parts of the recording lie on unrelated time axes; {why}: which sample it marks cannot be "
        "told. Record with clock offsets (LabRecorder writes them), or cut the file at the reset")


def _where(stamps: np.ndarray, parts: list[tuple[int, int]]) -> str:
    return shortlist([f"sample {a} ({stamps[a - 1]:.3f} s -> {stamps[a]:.3f} s)" for a, _ in parts[1:]], 4)


def _part_of(parts: list[tuple[int, int]], k: int) -> int:
    return next(p for p, (a, b) in enumerate(parts) if a <= k < b)


__all__ = ["parts_of", "place_markers"]
