"""A decoder's counters and latency histograms summed over its worker generations (:class:`GenerationTotals`).

A worker's :class:`~bci_stream.core.status.Counters` and latency histograms (``WorkerStatus.hist``) start from zero
in every generation (a restart after a crash or kill -9 is a new process). The supervisor keeps, per decoder, the
sum of those of the generations that have ended, each taken from the last status snapshot it received from that
generation, and adds the running generation's latest snapshot: ``totals`` in the status, and the counters and
latency histograms ``/metrics`` exports, which never go back (Prometheus counters and histogram buckets must not).

Samples that arrived while no worker ran are counted once, by the next generation, as a gap (``samples_lost``);
samples an ended generation decoded after its last snapshot are in no snapshot (at most one ``status_interval``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bci_stream.core.status import Counters
from bci_stream.service.metrics import add_histograms

#: Not summed: ``state_epoch`` goes on across generations (the latest is the total; the larger of the ended and the
#: latest, as a new generation reports 0 until its first snapshot: it went back to 0, audit s70worker F3),
#: ``max_chunk`` is a maximum.
CARRIED = ("state_epoch",)
MAXIMA = ("max_chunk",)


def add_counters(a: Counters, b: Counters) -> Counters:
    """``a + b`` field by field; ``state_epoch`` and ``max_chunk`` the larger one (the epoch never goes back)."""
    out = {}
    for f in dataclasses.fields(Counters):
        x, y = getattr(a, f.name), getattr(b, f.name)
        out[f.name] = max(x, y) if f.name in CARRIED + MAXIMA else x + y
    return Counters(**out)


def newest_counters(a: Counters, b: Counters) -> Counters:
    """Two reports of one worker generation's counters, field by field the larger: none of them goes back within a
    generation, and a status snapshot sent before a command's answer may be read after it (its counters older)."""
    return Counters(**{f.name: max(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(Counters)})


@dataclasses.dataclass(frozen=True)
class _Counted:
    """What :class:`GenerationTotals` holds, replaced as a whole (one assignment)."""

    generation: int = 0
    ended: Counters = dataclasses.field(default_factory=Counters)
    latest: Counters = dataclasses.field(default_factory=Counters)
    ended_hist: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    latest_hist: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


class GenerationTotals:
    """The counters and latency histograms of one decoder's ended generations, and those of its latest generation
    that reported.

    They are replaced together in one assignment, so a reader on another thread (the API, ``/metrics``) never sees
    a generation counted twice or not at all.
    """

    def __init__(self) -> None:
        self._state = _Counted()

    @property
    def generation(self) -> int:
        """The latest generation a snapshot came from (0: none yet)."""
        return self._state.generation

    @property
    def latest(self) -> Counters:
        """The latest generation's counters (its newest report)."""
        return self._state.latest

    @property
    def ended(self) -> Counters:
        """The ended generations' counters, summed (each as of its last snapshot)."""
        return self._state.ended

    def take(self, generation: int, counters: Counters, hist: dict[str, dict[str, Any]] | None = None) -> None:
        """A snapshot's ``counters`` and latency histograms ``hist`` (``WorkerStatus.hist``; None: not given, the
        generation's last ones kept) from worker ``generation``: the first from a newer generation ends the previous
        one (its last counters and histograms are added to the ended ones). Older generations' snapshots are
        ignored; one of the same generation never takes a counter back (:func:`newest_counters`: a command's answer,
        taken too, may be newer than the next snapshot read)."""
        s = self._state
        if generation < s.generation:
            return
        ended, ended_hist, latest_hist = s.ended, s.ended_hist, s.latest_hist
        if generation > s.generation:
            ended, ended_hist = add_counters(ended, s.latest), add_histograms(ended_hist, latest_hist)
            latest_hist = {}
        else:
            counters = newest_counters(s.latest, counters)
        self._state = _Counted(generation, ended, counters, ended_hist, latest_hist if hist is None else hist)

    def totals(self, latest: Counters | None = None) -> Counters:
        """Every generation's counters summed: the running one's as of its latest snapshot, or ``latest`` (its
        counters in a command's answer, newer than that snapshot)."""
        s = self._state
        return add_counters(s.ended, s.latest if latest is None else latest)

    def latency(self) -> dict[str, dict[str, Any]]:
        """Every generation's latency histograms summed by stage (``LatencyHistogram.to_dict()`` form; ``max`` the
        largest of any generation), the running one's as of its latest snapshot; ``{}`` before a snapshot brought
        histograms."""
        s = self._state
        return add_histograms(s.ended_hist, s.latest_hist)
