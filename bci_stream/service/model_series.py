"""A decoder's counters and latency histograms per model it ran (``/metrics``' ``model`` label).

``/metrics`` labels a decoder's series with the running model's name, so a hot swap to another model starts new
series. Each model's series count what the decoder did while it ran that model: from the decoder's totals
(:mod:`~bci_stream.service.totals`, summed over worker generations) at the swap that put the model in (the swap's
answer's counters: exact; its latency histograms as of the latest snapshot, at most one status interval old), plus
what its earlier runs counted (a swap back resumes its series where they stopped: a Prometheus counter never goes
back). Before: every series carried the decoder's lifetime totals, so B's new series started with everything A had
decoded, and A's jumped by B's samples on a swap back.
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
class _Book:
    label: str | None = None  # the model running since the last swap (None: no swap yet)
    base: Counters = dataclasses.field(default_factory=Counters)  # the decoder's totals at that swap
    base_hist: Hist = dataclasses.field(default_factory=dict)
    kept: dict[str, tuple[Counters, Hist]] = dataclasses.field(default_factory=dict)  # earlier runs, per model


class ModelSeries:
    """Per model name, what one decoder counted while running it; replaced as a whole (one assignment), so a scrape on
    another thread never sees a swap half booked."""

    def __init__(self) -> None:
        self._book = _Book()

    def switch(self, label: str, before: str, totals: Counters, hist: Hist) -> None:
        """A hot swap from model ``before`` to ``label``; ``totals`` and ``hist``: the decoder's at the swap."""
        b = self._book
        prev = b.label if b.label is not None else before
        self._book = _Book(label, totals, hist, {**b.kept, prev: self.of(prev, totals, hist)})

    def label(self, running: str) -> str:
        """The label of the decoder's series now: the model the last swap put in (``running`` before any swap)."""
        return self._book.label or running

    def of(self, label: str, totals: Counters, hist: Hist) -> tuple[Counters, Hist]:
        """The counters and histograms of model ``label``'s series, the decoder's ``totals`` and ``hist`` now."""
        b = self._book
        if b.label is None:
            return totals, hist
        ran, ran_hist = sub_counters(totals, b.base), sub_histograms(hist, b.base_hist)
        if label in b.kept:
            old, old_hist = b.kept[label]
            ran, ran_hist = add_counters(old, ran), add_histograms(old_hist, ran_hist)
        return ran, ran_hist
