"""A marker makes a worker's status due at once (``StatusReporter.urgent``: ``MarkerHub.waiting``), for the loops whose
status comes with the slot's ``tick``, which takes the marker. The loops that report without ``tick`` (waiting for a
consumer of the decoded stream, connecting) report on the timer only: before, a marker that came while a decoder
waited for its consumer left the status due at every turn of the wait's loop (every 20 ms), each turn sending a whole
snapshot (histograms and all) until the wait ended (review s52 of audit s52loop's marker change).

Real parts: a pylsl outlet with no consumer (the wait runs to its end), the worker's own StatusReporter."""

from __future__ import annotations

from types import SimpleNamespace

import pylsl

from bci_stream.service.consumer_wait import await_consumers
from bci_stream.service.reporter import StatusReporter
from support.common import unique


class CountingSender:
    """The status pipe's ``put``, counted (the snapshots a loop sends)."""

    def __init__(self) -> None:
        self.sent = 0

    def put(self, item: object) -> None:
        self.sent += 1


def test_a_marker_waiting_during_the_consumer_wait_sends_no_status_at_every_turn() -> None:
    sender = CountingSender()
    reporter = StatusReporter("d", 1, sender, interval=60.0, on_event=lambda kind, **fields: None)
    reporter.urgent = lambda: True  # a marker in the follower's queue, which only the slot's tick takes
    reporter.status.output_stream = {}
    name = unique("urgent-wait")
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "BCI", 1, 100.0, "float32", name))
    slot = SimpleNamespace(status=reporter.status, reporter=reporter, commands=SimpleNamespace(consumer_wait=None),
                           ring=None, prov_outlet=None, generation=1, outlet=SimpleNamespace(outlet=outlet, name=name),
                           stopping=False, data_seen=True, host="shared", decoder_id="d")
    waited, had = await_consumers(slot, 0.5)
    assert not had and waited >= 0.5
    assert sender.sent == 1, f"{sender.sent} snapshots over a {waited:.2f} s wait with the interval at 60 s"
    assert reporter.due(pylsl.local_clock()) and not reporter.timer_due(pylsl.local_clock())


def test_markers_that_come_faster_than_the_gap_share_snapshots_and_one_after_a_quiet_spell_goes_at_once() -> None:
    """A marker stream that always has a marker waiting (a stimulus program marking every frame, faster than the
    worker's loop turns) sends at most one early snapshot per ``URGENT_GAP_S``: before, every turn of the loop
    whose ``due`` found one sent a whole snapshot (histograms and all), ~1 per ms here (review s52rev). Bounds are
    upper bounds on a count (a loaded machine turns the loop less often, never more)."""
    from bci_stream.service.reporter import URGENT_GAP_S

    sender = CountingSender()
    reporter = StatusReporter("d", 1, sender, interval=60.0, on_event=lambda kind, **fields: None)
    reporter.report()  # the first snapshot: the timer's next one is a minute away
    reporter.urgent = lambda: True
    t0 = pylsl.local_clock()
    turns = 0
    while (now := pylsl.local_clock()) - t0 < 0.5:
        turns += 1
        if reporter.due(now):
            reporter.report()
    early = sender.sent - 1
    assert early <= 0.5 / URGENT_GAP_S + 1, f"{early} early snapshots in 0.5 s ({turns} turns)"
    assert early >= 1
    reporter.next_report = pylsl.local_clock() - 1.0 + 60.0  # the last snapshot 1 s ago (more than a gap)
    assert reporter.due(pylsl.local_clock())
