"""Discontinuities of an XDF signal stream's timestamps: markers placed across clock resets that the file's clock
offsets do not resolve (timestamps going back), and breaks in the recording marked (timestamps jumping forward).

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
and how many markers were placed or dropped: nothing is lost silently.

Timestamps that **jump forward** by more than :func:`jump_threshold` (max(0.5 s, 3 sample periods); 0.5 s is the
service's default ``gap_threshold_s``, whose ``gap`` events mark the same steps in its own recordings) are a break
in the recording: a recording decoder (or LabRecorder) that kept running while the lab restarted its amplifier or
stimulus program, a pause, lost samples. The samples on both sides are back to back in the data, so
:func:`mark_jumps` names each jump's first sample (the reader puts a :data:`JUMP` event there, a discontinuity that
calibrate and evaluate leave out with its settling, :mod:`bci_stream.train.classical.bad_spans`) and says where in
a RecordingWarning. Jitter steps far less: per-sample stamps a few periods late, chunks stamped on arrival over
Bluetooth up to ~0.1 s late (README, samples_lost), a chunk stamped once (a stair-case) by its length: so jumps
are found on the stamps as written, and a step between two stairs counts only by what it exceeds the stair's own
length (:func:`forward_jumps`; a stair-case of 1 s blocks is no break).

The reader loads without pyxdf's de-jittering (:func:`bci_stream.io.xdf.read_xdf`; pyxdf still applies the clock
offsets). pyxdf's fits a line to each *segment* of a stream, between steps either way longer than its
jitter-break threshold: its default, max(1 s, 500 samples), spread a shorter jump over the whole segment, moving
every stamp; a threshold of 0.5 s broke a stair-case of longer chunks at every stair. :func:`dejitter` fits the same
line per part between the jumps found here and the steps back over :func:`back_threshold`.

A loss shorter than a jump (a few samples to 0.5 s dropped by the sender or the network) would still be spread by
that line over its part, moving markers by up to half the loss. So the reader keeps the stamps of a **regular**
stream as they are in the file (clock-synchronised, not de-jittered): :func:`step_irregularity` tells it from one
that needs de-jittering. A regular stream's steps are a whole number of its usual step (1, or k + 1 after k lost
samples): per-sample stamps at a constant rate, as the service's recordings and many amplifier apps write them.
Chunks stamped on arrival (Bluetooth headsets: 0-100 ms late; liblsl back-computes the other stamps of a chunk)
step by anything, and a stair-case (a chunk's samples with equal stamps) by 0: those are de-jittered by
:func:`dejitter`'s line, broken where :mod:`bci_stream.io.xdf_losses` finds a loss under 0.5 s net of the jitter (one
no larger than the jitter is not seen, and is spread).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from bci_stream.core.channels import shortlist
from bci_stream.core.spec import GAP_MIN_PERIODS, gap_threshold
from bci_stream.io.errors import DataError, RecordingWarning

#: A forward step longer than this many sample periods (and than GAP_THRESHOLD_S) is a jump: at rates under 6 Hz
#: a step of one or two periods is no break (the live gap rule's minimum too)
JUMP_MIN_PERIODS = GAP_MIN_PERIODS
#: The description of the event at the first sample after a jump: a discontinuity
#: (:data:`bci_stream.train.classical.bad_spans.BOUNDARIES`)
JUMP = "timestamp jump"


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
        if not inside.all():  # said: a cue before the first sample recorded was a trial lost without a word (s51lab)
            _warn_outside(stamps, m_stamps, ~inside, values, file=file, signal=signal, markers=markers)
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


def _warn_outside(stamps: np.ndarray, m_stamps: np.ndarray, outside: np.ndarray, values: Sequence[str], *,
                  file: str, signal: str, markers: str) -> None:
    """Warn of the markers (``outside``) whose timestamps fall outside the signal's span: none of them is an event."""
    where = []
    for k in np.flatnonzero(outside)[:5]:
        t = float(m_stamps[k])
        side = f"{stamps[0] - t:.3f} s before its first sample" if t < stamps[0] else \
            f"{t - stamps[-1]:.3f} s after its last"
        where.append((f"{values[k]!r} " if k < len(values) else "") + side)
    n = int(outside.sum())
    more = ", ..." if n > len(where) else ""
    verb, pronoun = ("falls", "it marks") if n == 1 else ("fall", "they mark")
    warnings.warn(f"{file}: {n} of the {len(m_stamps)} markers of {markers!r} {verb} outside the time span of stream "
                  f"{signal!r} ({', '.join(where)}{more}): {pronoun} no sample and {'is' if n == 1 else 'are'} left "
                  "out (a cue sent before the recording's first sample is a trial lost)", RecordingWarning,
                  stacklevel=3)


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


def jump_threshold(sfreq: float) -> float:
    """Seconds a forward step of a signal stream's timestamps at ``sfreq`` must exceed to be a break in the
    recording, not jitter: :func:`~bci_stream.core.spec.gap_threshold` (0.5 s and 3 periods)."""
    return gap_threshold(sfreq)


def forward_jumps(stamps: np.ndarray, sfreq: float) -> np.ndarray:
    """The first sample after each forward step of ``stamps`` (as written, not de-jittered) longer than
    :func:`jump_threshold` once the time its samples cover is taken off: a step between two runs of equal stamps (a
    stair-case: a chunk's samples stamped alike, at its arrival or its start) covers the longer run but one sample, so
    a stair's step is no jump whatever the chunk's length; per-sample stamps (runs of one) cover nothing."""
    stamps = np.asarray(stamps, dtype=np.float64)
    steps = np.diff(stamps)
    at = np.flatnonzero(steps != 0)  # the last sample of each run of equal stamps but the last run
    runs = np.diff(np.r_[0, at + 1, len(stamps)])
    covered = (np.maximum(runs[:-1], runs[1:]) - 1) / sfreq
    return at[steps[at] - covered > jump_threshold(sfreq)] + 1


#: Seconds a step back of a signal stream's timestamps must exceed (and 3 periods) to split the recording as a clock
#: reset does: jitter steps back less (chunks stamped on arrival, up to ~0.1 s late). A shorter step back than a jump
#: was fitted over, bending the line the markers are placed by: cues 3-22 samples off (audit s67rec F11)
BACK_STEP_S = 0.2


def back_threshold(sfreq: float) -> float:
    """Seconds a step back of timestamps at ``sfreq`` must exceed to split the recording (:data:`BACK_STEP_S`)."""
    return max(BACK_STEP_S, JUMP_MIN_PERIODS / sfreq)


def part_edges(stamps: np.ndarray, sfreq: float, jumps: Sequence[int]) -> list[int]:
    """0, the ``jumps``, the first samples after steps back longer than :func:`back_threshold`, and ``len(stamps)``."""
    back = np.flatnonzero(np.diff(stamps) < -back_threshold(sfreq)) + 1
    return [0, *sorted({*map(int, jumps), *back.tolist()}), len(stamps)]


def dejitter(stamps: np.ndarray, sfreq: float, jumps: Sequence[int], losses: Sequence[int] = ()) -> np.ndarray:
    """``stamps`` on a least-squares line of stamp against sample index per part of the recording, between the
    ``jumps`` (:func:`forward_jumps`) and the steps back longer than :func:`back_threshold` (a clock reset): what
    pyxdf's de-jittering does (``_jitter_removal``, private), broken where this module finds a break (pyxdf breaks at
    every step over its threshold, so at 0.5 s a stair-case of longer chunks became one part per stair, a line of
    slope 0 each, whose stamps went back). A part whose line does not rise (a single stair) gets the nominal period
    through its mean. ``losses``: first samples after shorter losses (:mod:`bci_stream.io.xdf_losses`), where the line
    breaks too, its times never going back there."""
    stamps = np.asarray(stamps, dtype=np.float64)
    edges = part_edges(stamps, sfreq, [*jumps, *losses])
    out = np.empty_like(stamps)
    for a, b in zip(edges[:-1], edges[1:]):
        idx = np.arange(b - a, dtype=np.float64)
        y0 = stamps[a]  # centred: stamps are seconds since a host's boot, indices up to millions
        slope, icpt = np.polyfit(idx, stamps[a:b] - y0, 1) if b - a > 1 else (0.0, 0.0)
        if slope <= 0:
            slope, icpt = 1 / sfreq, float(np.mean(stamps[a:b] - y0) - np.mean(idx) / sfreq)
        out[a:b] = y0 + icpt + slope * idx
    if len(losses):  # two lines meet at a loss: time never goes back there (between breaks)
        big = part_edges(stamps, sfreq, jumps)
        for a, b in zip(big[:-1], big[1:]):
            out[a:b] = np.maximum.accumulate(out[a:b])
    return out


#: A regular stream's steps (:func:`step_irregularity`) are whole numbers of its usual step within this fraction of it
GRID_TOLERANCE = 0.1


def _in_steps(stamps: np.ndarray, sfreq: float) -> np.ndarray | None:
    """Each step of ``stamps`` in median steps (the median over the steps not longer than :func:`jump_threshold`
    forward nor :func:`back_threshold` back, within a part), NaN for a longer one; None when the median step is not
    positive."""
    steps = np.diff(np.asarray(stamps, dtype=np.float64))
    short = (steps <= jump_threshold(sfreq)) & (steps >= -back_threshold(sfreq))
    unit = float(np.median(steps[short])) if short.any() else 1.0
    return np.where(short, steps / unit, np.nan) if unit > 0 else None


def step_irregularity(stamps: np.ndarray, sfreq: float) -> float:
    """How far the timestamps of a stream at ``sfreq`` are from per-sample stamps at a constant rate: the largest
    distance of a step from a whole number (at least 1) of the median step, in median steps, over the steps not longer
    than :func:`jump_threshold` forward nor :func:`back_threshold` back.

    0 for a regular stream, lost samples included (a loss of k samples is a step of k + 1), also at a rate other
    than ``sfreq`` (a replay recorded at speed 4); up to 0.5 for chunks stamped on arrival (the steps between
    chunks are the jitter, any fraction); ``inf`` when the median step is not positive (a stair-case of equal
    stamps per chunk). A stream at most :data:`GRID_TOLERANCE` keeps its own stamps
    (:func:`bci_stream.io.xdf.read_xdf`)."""
    ratio = _in_steps(stamps, sfreq)
    if ratio is None:
        return math.inf
    ratio = ratio[~np.isnan(ratio)]
    return float(np.max(np.abs(ratio - np.maximum(1.0, np.rint(ratio))), initial=0.0))


def warn_losses(stamps: np.ndarray, sfreq: float, *, file: str, signal: str) -> list[tuple[int, int]]:
    """``(first sample after, samples lost)`` of each loss of the regular signal stream ``signal`` of ``file`` (a
    step of k + 1 median steps, k >= 1, not a jump), said in a RecordingWarning when there is one: the samples on both
    sides are back to back in the data, with no event, as a decoder received them."""
    ratio = _in_steps(stamps, sfreq)
    if ratio is None:
        return []
    lost = np.rint(np.nan_to_num(ratio, nan=1.0)).astype(np.int64) - 1
    losses = [(int(k) + 1, int(lost[k])) for k in np.flatnonzero(lost >= 1)]
    if losses:
        where = shortlist([f"sample {k} (t={k / sfreq:.3f} s in the file, {n} lost)" for k, n in losses], 4)
        warnings.warn(f"{file}: stream {signal!r} lost {sum(n for _, n in losses)} sample(s) in {len(losses)} "
                      f"place(s), each for {jump_threshold(sfreq):g} s or less (no jump), at {where}: its samples are "
                      "back to back there, as a decoder received them, with no event (a trial across a loss holds "
                      "that many samples fewer); its markers are placed by the samples' own timestamps",
                      RecordingWarning, stacklevel=3)
    return losses


def mark_jumps(stamps: np.ndarray, sfreq: float, *, file: str, signal: str) -> list[int]:
    """:func:`forward_jumps` of the signal stream ``signal`` of ``file``, said in a RecordingWarning (each jump's
    sample, time in the file and length) when there is one."""
    jumps = forward_jumps(stamps, sfreq)
    if not len(jumps):
        return []
    where = shortlist([f"sample {k} (t={k / sfreq:.3f} s in the file, {stamps[k] - stamps[k - 1]:.3f} s after the "
                       "sample before)" for k in jumps], 4)
    warnings.warn(f"{file}: the timestamps of stream {signal!r} jump forward {len(jumps)} time(s), by more than "
                  f"{jump_threshold(sfreq):g} s (no jitter steps that far), at {where}: a break in the recording (a "
                  "pause, a restarted sender or recording, lost samples), whose two sides are back to back in the "
                  f"data; each is marked by a {JUMP!r} event, a discontinuity: calibrate and evaluate leave out the "
                  "trials across it and the settling after it. Samples and markers sent during the break are not in "
                  "the file (a cue at the very start of a resumed run may be missing)", RecordingWarning, stacklevel=3)
    return [int(k) for k in jumps]


#: A signal stream whose timestamps run more than this fraction off its nominal rate is warned about (pyxdf's rule)
RATE_TOLERANCE = 0.1


def warn_rate(stamps: np.ndarray, sfreq: float, jumps: Sequence[int], *, file: str, signal: str) -> float:
    """The rate of the signal stream ``signal`` of ``file`` by its sample times ``stamps``: samples over seconds,
    summed over the parts between ``jumps`` (and steps back); said in a RecordingWarning when it is more than
    :data:`RATE_TOLERANCE` off ``sfreq`` (a wrong nominal rate, or a replay recorded faster than real time). pyxdf
    gave this warning when it de-jittered; the reader loads without its de-jittering."""
    edges = part_edges(stamps, sfreq, jumps)
    n = sum(b - a - 1 for a, b in zip(edges[:-1], edges[1:]))
    seconds = sum(float(stamps[b - 1] - stamps[a]) for a, b in zip(edges[:-1], edges[1:]))
    rate = n / seconds if seconds > 0 else sfreq
    if abs(rate - sfreq) > RATE_TOLERANCE * sfreq:
        warnings.warn(f"{file}: stream {signal!r} runs at {rate:.6g} Hz by its timestamps, not its nominal rate "
                      f"{sfreq:g} Hz: its samples are taken at the nominal rate, its markers placed by the timestamps",
                      RecordingWarning, stacklevel=3)
    return rate


__all__ = ["BACK_STEP_S", "GRID_TOLERANCE", "JUMP", "JUMP_MIN_PERIODS", "RATE_TOLERANCE", "back_threshold",
           "dejitter", "forward_jumps", "jump_threshold", "mark_jumps", "part_edges", "parts_of", "place_markers",
           "step_irregularity", "warn_losses", "warn_rate"]
