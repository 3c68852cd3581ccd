"""A decoder's counters, restarts and latency histograms per model it ran (``/metrics``' ``model`` label).

``/metrics`` labels a decoder's series with a model's name and exports, per decoder, the series of every model it
has run (:meth:`ModelSeries.every`): a hot swap to another model starts new series for it, and the series of the
models it ran before stay, frozen at what they counted. Each model's series count what the decoder did while it ran
that model: from the decoder's totals (:mod:`~bci_stream.service.totals`, summed over worker generations) at the swap
that put the model in (the swap's answer's counters: exact; its latency histograms as of the latest snapshot, at most
one status interval old), plus what its earlier runs counted (a swap back resumes its series where they stopped: a
Prometheus counter never goes back). So the series of one decoder sum to its totals (and its restarts): none of
those sums goes back at a swap, and a decoder's series are dropped together with it (``DELETE``).

A swap is counted in the series of the model swapped from: the worker counts it before the new model decodes, and
the swap's answer (its counters) ends that model's run. That series was exported before the swap, so
``increase(bci_stream_swaps_total[...])`` sees the swap at the first scrape after it (a new series' first value is
no increase to Prometheus). Before: only the running model's series was exported, so the first swap showed in no
series, and a swap back took the other model's counts out of the export.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bci_stream.core.status import Counters
from bci_stream.service.metrics import add_histograms
from bci_stream.service.totals import CARRIED, MAXIMA, add_counters

Hist = dict[str, dict[str, Any]]


def sub_counters(a: Counters, b: Counters) -> Counters:
    """``a - b`` for the summed fields; ``state_epoch`` and ``max_chunk`` from ``a`` (the decoder's)."""
    own = CARRIED + MAXIMA
    return Counters(**{f.name: getattr(a, f.name) - (0 if f.name in own else getattr(b, f.name))
                       for f in dataclasses.fields(Counters)})


def sub_histograms(a: Hist, b: Hist) -> Hist:
    """``a - b`` by stage (counts, ``sum``, ``n``, ``n_negative``); ``max`` and ``min`` those of ``a`` (bounds)."""
    out = {}
    for stage, h in a.items():
        g = b.get(stage)
        if g is None:
            out[stage] = dict(h)
            continue
        out[stage] = {**h, "counts": [max(0, x - y) for x, y in zip(h["counts"], g["counts"], strict=True)],
                      "sum": h["sum"] - g["sum"], "n": max(0, h["n"] - g["n"])}
        if "n_negative" in h:
            out[stage]["n_negative"] = max(0, h["n_negative"] - g.get("n_negative", 0))
    return out


@dataclasses.dataclass(frozen=True)
class Run:
    """What one decoder counted (its totals, latency histograms and restarts), or what it counted running one model
    (one set of ``/metrics`` series)."""

    counters: Counters = dataclasses.field(default_factory=Counters)
    hist: Hist = dataclasses.field(default_factory=dict)
    restarts: int = 0

    def __add__(self, other: Run) -> Run:
        return Run(add_counters(self.counters, other.counters), add_histograms(self.hist, other.hist),
                   self.restarts + other.restarts)

    def __sub__(self, other: Run) -> Run:
        return Run(sub_counters(self.counters, other.counters), sub_histograms(self.hist, other.hist),
                   self.restarts - other.restarts)


@dataclasses.dataclass(frozen=True)
class _Book:
    label: str | None = None  # the model running since the last swap (None: no swap yet)
    base: Run = dataclasses.field(default_factory=Run)  # the decoder's totals at that swap
    kept: dict[str, Run] = dataclasses.field(default_factory=dict)  # earlier runs, per model (insertion order)


class ModelSeries:
    """Per model name, what one decoder counted while running it; replaced as a whole (one assignment), so a scrape on
    another thread never sees a swap half booked."""

    def __init__(self) -> None:
        self._book = _Book()

    def switch(self, label: str, before: str, totals: Counters, hist: Hist, restarts: int = 0) -> None:
        """A hot swap from model ``before`` to ``label``; ``totals``, ``hist`` and ``restarts``: the decoder's at the
        swap (its answer's counters, which count the swap: booked to ``before``'s run, see the module)."""
        b, now = self._book, Run(totals, hist, restarts)
        prev = b.label if b.label is not None else before
        self._book = _Book(label, now, {**b.kept, prev: self._running(prev, now)})

    def label(self, running: str) -> str:
        """The label of the decoder's running series: the model the last swap put in (``running`` before any swap)."""
        return self._book.label or running

    def every(self, running: str, totals: Counters, hist: Hist, restarts: int = 0) -> tuple[str, dict[str, Run]]:
        """The running series' label (:meth:`label`) and every series of the decoder by label: the running one's
        from the decoder's ``totals``, ``hist`` and ``restarts`` now, the others as their model's last run left them
        (frozen). Their sum is the decoder's ``totals`` (and ``restarts``); their histograms sum to ``hist``."""
        b = self._book
        label = self.label(running)
        return label, {**b.kept, label: self._running(label, Run(totals, hist, restarts))}

    def _running(self, label: str, now: Run) -> Run:
        """The series of model ``label``, running since the last swap; ``now``: the decoder's."""
        b = self._book
        if b.label is None:
            return now
        ran = now - b.base
        return b.kept[label] + ran if label in b.kept else ran
