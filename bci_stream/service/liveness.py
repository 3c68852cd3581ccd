"""Is a decoder keeping up, right now? Recent-window load figures of one decoded stream, O(1) per chunk.

The counters and latency histograms of a worker are cumulative since it started; a lab polling the status wants to
know what happens *now*. :class:`LoadWindow` keeps, beside them, *marks*: at a status report, at most once per
``step_s``, a copy of the few cumulative figures it needs (samples in, chunks, busy seconds, backlog sum, the
``e2e`` and ``service`` histogram counts). A recent figure is the difference between now and the oldest mark not
older than ``window_s``: a window sliding in steps of ``step_s``, so it spans between ``window_s - step_s`` and
``window_s`` once the decoder has run that long (less before; the figure ``window_s`` says what it covered). The
hot loop only calls :meth:`LoadWindow.chunk` (two additions and a comparison per chunk, whatever its size); the
copies and differences happen at reports.

Figures (:meth:`LoadWindow.describe`):

``window_s``
    The span the recent figures cover, seconds.
``input_rate_hz``, ``chunk_rate_hz``
    Samples and chunks pulled per second over the window. A decoder keeping pace pulls the stream's rate
    (its ``sfreq`` × the sender's speed).
``samples_lost``
    Samples counted lost over the window (gaps in the stamps: a sender's pause, or an inlet buffer that overflowed
    while the decoder fell behind, ``max_buffer_s``).
``busy``
    The fraction of the window's wall time the worker spent on this decoder's chunks, from the end of each pull
    (data in hand) to the end of its publishing and accounting; waiting for data is not counted. Near 1: saturated.
    In a shared worker, where the streams due together are stepped in one call, a stream counts its staging, its
    share of that call and its publishing, not the wait for the other streams (``worked_s`` of ``publish``).
``backlog_samples``, ``backlog_s``
    Samples waiting in the LSL inlet (``StreamInlet.samples_available()``, exact in liblsl 1.16+) right after the
    last chunk was published: what arrived while the worker worked and the next pull takes at once. 0 while the
    decoder keeps up, whatever the sender's chunk size (its next chunk arrives later, in one piece); above 0 chunk
    after chunk when it falls behind. ``backlog_s`` is the same divided by the stream's nominal rate.
``backlog_max``, ``backlog_mean``
    The largest and the mean backlog after a chunk over the window.
``hist``
    ``e2e`` and ``service`` latency histograms of the window (the reporter's histogram dict; its ``max`` is the
    window's, from each histogram's ``peak`` taken at every mark, and caps the percentiles the API gives).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bci_stream.core.status import Counters

RECENT_STAGES = ("e2e", "service")
WINDOW_S = 10.0  #: the recent window, seconds
STEP_S = 1.0  #: how far it slides at a time, seconds


@dataclass(slots=True)
class Mark:
    """The cumulative figures at one moment (``peak``, ``hist_peaks``: the largest backlog and latencies in the step
    that ended here)."""

    t: float
    samples: int
    lost: int
    chunks: int
    busy_s: float
    backlog_sum: int
    peak: int
    held: int  # the most samples the inlet held at a pull in the step (the chunk pulled and what it left)
    hists: dict[str, tuple[list[int], float, int, int]]  # counts, sum, n, n_negative of each stage
    hist_peaks: dict[str, float]
    hist_troughs: dict[str, float]  # the most negative latency of each stage in the step (0.0: none)


class LoadWindow:
    """Recent load of one decoded stream (see the module docstring).

    Parameters
    ----------
    counters
        The stream's counters (``samples_in`` is read at marks).
    hists
        The reporter's latency histograms by stage (``LatencyHistogram``: ``counts``, ``total``, ``n``), read
        at marks; those of :data:`RECENT_STAGES` are differenced.
    sfreq
        The stream's nominal rate (``backlog_s``); 0 or less: ``backlog_s`` is None.
    now
        The clock at the start (the first mark), seconds.
    window_s, step_s
        The window's length and its step, seconds (``0 < step_s <= window_s``).
    """

    def __init__(self, counters: Counters, hists: dict[str, Any], sfreq: float, now: float,
                 window_s: float = WINDOW_S, step_s: float = STEP_S) -> None:
        if not 0 < step_s <= window_s:
            raise ValueError(f"step_s must be > 0 and <= window_s={window_s!r}, got {step_s!r}")
        self.counters, self.hists, self.sfreq = counters, hists, sfreq
        self.window_s, self.step_s = window_s, step_s
        self.n_chunks = 0
        self.busy_s = 0.0
        self.backlog = 0
        self.backlog_sum = 0
        self.peak = 0  # the largest backlog since the last mark
        self.held = 0  # the most samples the inlet held at a pull since the last mark (a buffer one pull empties)
        self.marks: list[Mark] = [self._mark(now)]

    def chunk(self, busy_s: float, backlog: int, pulled: int = 0) -> None:
        """A chunk of ``pulled`` samples was published: the worker spent ``busy_s`` on it and left ``backlog`` samples
        in the inlet."""
        self.n_chunks += 1
        self.busy_s += busy_s
        self.backlog = backlog
        self.backlog_sum += backlog
        if backlog > self.peak:
            self.peak = backlog
        if backlog + pulled > self.held:
            self.held = backlog + pulled

    def _mark(self, now: float) -> Mark:
        hists = {k: (list(self.hists[k].counts), self.hists[k].total, self.hists[k].n, self.hists[k].n_negative)
                 for k in RECENT_STAGES}
        peaks = {k: self.hists[k].take_peak() for k in RECENT_STAGES}
        troughs = {k: self.hists[k].take_trough() for k in RECENT_STAGES}
        c = self.counters
        mark = Mark(now, c.samples_in, c.samples_lost, self.n_chunks, self.busy_s, self.backlog_sum, self.peak,
                    self.held, hists, peaks, troughs)
        self.peak = self.held = 0
        return mark

    def describe(self, now: float) -> dict[str, Any]:
        """The recent figures at ``now`` (see the module docstring): since the oldest mark at most ``window_s`` old
        (else, after a pause of the reports, the newest older one); then a new mark if ``step_s`` has passed."""
        drop = 0
        while drop < len(self.marks) - 1 and now - self.marks[drop].t > self.window_s:
            drop += 1
        if drop:
            del self.marks[:drop]
        figures = self._figures(now)
        if now - self.marks[-1].t >= self.step_s:
            self.marks.append(self._mark(now))
        return figures

    def _figures(self, now: float) -> dict[str, Any]:
        ref = self.marks[0]
        span = now - ref.t
        chunks = self.n_chunks - ref.chunks
        per_s = (lambda v: v / span) if span > 0 else (lambda v: None)
        hist = {}
        for k in RECENT_STAGES:
            counts0, total0, n0, neg0 = ref.hists[k]
            h = self.hists[k]
            n = h.n - n0
            top = max([m.hist_peaks[k] for m in self.marks[1:]] + [h.peak])
            low = min([m.hist_troughs[k] for m in self.marks[1:]] + [h.trough])  # how far ahead: ahead_ms
            hist[k] = {"counts": [a - b for a, b in zip(h.counts, counts0)], "sum": h.total - total0,
                       "n": n, "max": top if n else None, "n_negative": h.n_negative - neg0,
                       "min": low if low < 0 else None}
        return {
            "window_s": span,
            "input_rate_hz": per_s(self.counters.samples_in - ref.samples),
            "chunk_rate_hz": per_s(chunks),
            "samples_lost": self.counters.samples_lost - ref.lost,
            "busy": per_s(self.busy_s - ref.busy_s),
            "backlog_samples": self.backlog,
            "backlog_s": self.backlog / self.sfreq if self.sfreq > 0 else None,
            "backlog_max": max([m.peak for m in self.marks[1:]] + [self.peak]),
            "held_max": max([m.held for m in self.marks[1:]] + [self.held]),
            "backlog_mean": (self.backlog_sum - ref.backlog_sum) / chunks if chunks else None,
            "hist": hist,
        }
