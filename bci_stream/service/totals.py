"""A decoder's counters summed over its worker generations (:class:`GenerationTotals`).

A worker's :class:`~bci_stream.core.status.Counters` start from zero in every generation (a restart after a crash
or kill -9 is a new process). The supervisor keeps, per decoder, the sum of the counters of the generations that
have ended, each taken from the last status snapshot it received from that generation, and adds the running
generation's latest snapshot: ``totals`` in the status and the counters ``/metrics`` exports, which never go back.

Samples that arrived while no worker ran are counted once, by the next generation, as a gap (``samples_lost``);
samples an ended generation decoded after its last snapshot are in no snapshot (at most one ``status_interval``).
"""

from __future__ import annotations

import dataclasses

from bci_stream.core.status import Counters

#: Not summed: ``state_epoch`` goes on across generations (the latest is the total), ``max_chunk`` is a maximum.
CARRIED = ("state_epoch",)
MAXIMA = ("max_chunk",)


def add_counters(a: Counters, b: Counters) -> Counters:
    """``a + b`` field by field; ``state_epoch`` from ``b`` (the later one), ``max_chunk`` the larger one."""
    out = {}
    for f in dataclasses.fields(Counters):
        x, y = getattr(a, f.name), getattr(b, f.name)
        out[f.name] = y if f.name in CARRIED else max(x, y) if f.name in MAXIMA else x + y
    return Counters(**out)


class GenerationTotals:
    """The counters of one decoder's ended generations, and those of its latest generation that reported.

    The three are replaced together in one assignment, so a reader on another thread (the API, ``/metrics``)
    never sees a generation counted twice or not at all.
    """

    def __init__(self) -> None:
        self._state: tuple[int, Counters, Counters] = (0, Counters(), Counters())  # generation, ended, latest

    @property
    def generation(self) -> int:
        """The latest generation a snapshot came from (0: none yet)."""
        return self._state[0]

    @property
    def ended(self) -> Counters:
        """The ended generations' counters, summed (each as of its last snapshot)."""
        return self._state[1]

    def take(self, generation: int, counters: Counters) -> None:
        """A snapshot's ``counters`` from worker ``generation``: the first from a newer generation ends the
        previous one (its last counters are added to :attr:`ended`). Older generations' snapshots are ignored."""
        current, ended, latest = self._state
        if generation < current:
            return
        if generation > current:
            ended = add_counters(ended, latest)
        self._state = (generation, ended, counters)

    def totals(self, latest: Counters | None = None) -> Counters:
        """Every generation's counters summed: the running one's as of its latest snapshot, or ``latest`` (its
        counters in a command's answer, newer than that snapshot)."""
        _, ended, last = self._state
        return add_counters(ended, last if latest is None else latest)
