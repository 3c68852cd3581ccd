"""When a shared worker waits, and on which inlet: the stream whose next chunk is due first.

liblsl has no call that waits on several inlets at once, only a pull with a timeout on one. A shared
worker with one stream therefore blocks in that stream's pull, as the dedicated worker does (it wakes up
when a sample arrives). With several streams it learns each stream's rhythm from its arrivals
(:class:`Arrivals`: an average interval between chunks, the next arrival predicted from the last one) and
:func:`plan` blocks in the pull of the stream due first, until the next stream is due (never shorter than
:data:`MIN_BLOCK_S`, never past the worker's next housekeeping); every other inlet is then pulled without
waiting. The stream waited on costs no added latency; another one waits at most until its own predicted
arrival (or :data:`MIN_BLOCK_S`, the old fixed poll interval, when it is early). When a pull found data,
the worker waits up to :data:`BURST_S` more for the streams due by then (:meth:`Arrivals.expected`), so
chunks that senders push together are stepped in one batched call rather than one call per arrival.
Nothing is skipped: every wait ends with a pull of every inlet, so the policy only decides *when*, never
*whether*, a stream is read; each stream's samples are decoded in the order they were pulled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

MIN_BLOCK_S = 0.0005
"""The shortest wait with several streams: no round of pulls more often than every 0.5 ms while idle."""
BURST_S = 0.0005
"""After a pull that found data, wait at most this long for the chunks of other streams due by then (senders
that push together: one batched step for the burst instead of one per arrival)."""
EARLY_S = 0.0002
"""Wake up this long before a stream's predicted arrival (its arrivals jitter)."""
ALPHA = 0.125
"""Weight of the newest interval in the average interval between a stream's chunks."""
MAX_PERIOD_S = 0.25
"""Intervals longer than this (a pause, a stall) do not teach the average."""


class Arrivals:
    """One stream's arrival rhythm: when its next chunk is expected (``due``, on the ``local_clock``).

    Attributes
    ----------
    due
        The predicted arrival of the next chunk, minus :data:`EARLY_S`.
    period
        The average interval between chunks (None until two arrivals were seen).
    """

    __slots__ = ("due", "last", "period")

    def __init__(self, now: float) -> None:
        self.due = now
        self.last: float | None = None
        self.period: float | None = None

    def arrived(self, now: float) -> None:
        """A chunk arrived at ``now``."""
        last, period = self.last, self.period
        if last is not None and (interval := now - last) < MAX_PERIOD_S:
            period = self.period = interval if period is None else period + ALPHA * (interval - period)
        self.last = now
        self.due = now + (period or 0.0) - EARLY_S

    def expected(self, now: float, within: float) -> bool:
        """Whether a chunk is due by ``now + within`` from a stream that keeps its rhythm (not a silent one)."""
        period, last = self.period, self.last
        return (period is not None and last is not None and self.due <= now + within
                and now - last < 1.5 * period + within)

    def missed(self, now: float) -> None:
        """Nothing came at ``now``: once overdue, look again :data:`MIN_BLOCK_S` later (a late chunk waits no
        longer than with a fixed poll interval; a silent stream is looked at no more often)."""
        if self.due <= now:
            self.due = now + MIN_BLOCK_S


class _Waitable(Protocol):
    arrivals: Arrivals


def plan(members: Sequence[_Waitable], now: float, deadline: float) -> tuple[_Waitable | None, float]:
    """Which member's pull to block in, and for how long (seconds, >= 0).

    One member: until ``deadline`` (the worker's next housekeeping). Several: the one due first, until
    the next one is due (at least :data:`MIN_BLOCK_S`, at most until ``deadline``). ``(None, 0.0)`` when
    there is no member.
    """
    if not members:
        return None, 0.0
    limit = max(0.0, deadline - now)
    if len(members) == 1:
        return members[0], limit
    first = second = None
    for m in members:
        due = m.arrivals.due
        if first is None or due < first.arrivals.due:
            first, second = m, first
        elif second is None or due < second.arrivals.due:
            second = m
    return first, min(limit, max(MIN_BLOCK_S, second.arrivals.due - now))
