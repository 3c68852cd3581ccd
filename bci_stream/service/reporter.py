"""A worker's status: counters, histograms and state, sent to the supervisor without blocking."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable
from typing import Any

import pylsl

from bci_stream.core.status import DecoderState, WorkerStatus
from bci_stream.service.metrics import LatencyHistogram
from bci_stream.service.status_channel import StatusSender
from bci_stream.service.worker_entry import EXIT_REFUSED

log = logging.getLogger("bci_stream.worker")

#: Latency stages: ``pull`` (time in the pull call), ``decode`` (the step graph: preprocessing + decoder),
#: ``publish`` (LSL pushes), ``service`` (from the end of the pull to the end of the publish, per chunk),
#: ``e2e`` (push time minus the input timestamp, per sample).
STAGES = ("pull", "decode", "publish", "service", "e2e")
#: The least time between two snapshots sent early for :attr:`StatusReporter.urgent` (a marker), s: markers that come
#: faster (a stimulus program marking every frame) share a snapshot, not one whole snapshot each.
URGENT_GAP_S = 0.05
#: The longest a chunk waits for a snapshot holding a loss just counted to be written to the status pipe, s.
LOSS_FLUSH_S = 0.1


class StatusReporter:
    """Owns a worker's :class:`WorkerStatus` and latency histograms; sends snapshots on change and on a timer.

    Parameters
    ----------
    decoder_id, generation
        Who is reporting (the supervisor drops snapshots of an older generation).
    sender
        The worker's status pipe (a latest-wins mailbox: :meth:`report` never blocks).
    interval
        Seconds between periodic snapshots.
    on_event
        Called as ``on_event(kind, **fields)`` on every state change (the recorder's service events).
    """

    def __init__(self, decoder_id: str, generation: int, sender: StatusSender, interval: float,
                 on_event: Callable[..., None]) -> None:
        self.decoder_id = decoder_id
        self.generation = generation
        self.sender = sender
        self.interval = interval
        self.on_event = on_event
        self.status = WorkerStatus(pid=os.getpid())
        self.counters = self.status.counters
        self.hists = {stage: LatencyHistogram() for stage in STAGES}
        self.next_report = 0.0
        self.state_norms: Callable[[], Any] = lambda: None
        self.recording: Callable[[], dict[str, Any] | None] = lambda: None
        self.load: Callable[[float], dict[str, Any] | None] = lambda now: None  # LoadWindow.describe once decoding
        self.consumers: Callable[[], bool | None] = lambda: None  # LSL consumers of the decoded outlet?
        self.nonfinite: Callable[[], dict[str, Any] | None] = lambda: None  # NonFiniteWatch.describe once decoding
        self.outputs_nonfinite: Callable[[], dict[str, Any] | None] = lambda: None  # DivergenceWatch.describe
        self.outlet_twins: Callable[[], dict[str, Any] | None] = lambda: None  # OutletTwins.describe
        #: something to report now, before the timer (MarkerHub.waiting: a marker for the WebSocket clients)
        self.urgent: Callable[[], bool] = lambda: False
        self.lost_reported = 0  # samples_lost as of the last report_loss

    def report_loss(self, in_flight: int = 0) -> None:
        """A loss counted since the last call: reported now, waiting (up to :data:`LOSS_FLUSH_S`) until the snapshot is
        in the status pipe. Called before a chunk's rows enter the output ring: a restarted worker counts its gap from
        the ring's last row, so a loss counted before that row must reach the supervisor even if the worker is killed
        the next instant (before: a kill within a status interval of the count lost it from ``totals``, the next
        generation counting only after that row; audit s53fuzz F2).

        ``in_flight``: the samples of the chunk being published, counted in ``samples_in`` but not yet out; the
        snapshot leaves them out (:meth:`report`)."""
        if (lost := self.counters.samples_lost) == self.lost_reported:
            return
        self.lost_reported = lost
        self.report(in_flight)
        self.sender.flush(LOSS_FLUSH_S)

    def due(self, now: float) -> bool:
        """Whether a status is due: its interval is over, or :attr:`urgent` (for a loop whose status comes with the
        slot's ``tick``, which takes what made it urgent), at most one per :data:`URGENT_GAP_S`."""
        return self.timer_due(now) or (now >= self.next_report - self.interval + URGENT_GAP_S and self.urgent())

    def timer_due(self, now: float) -> bool:
        """Whether the interval is over: for a loop that reports without the slot's ``tick`` (connecting, waiting
        for a consumer), which would find a marker waiting at every turn and report each time."""
        return now >= self.next_report

    def report(self, in_flight: int = 0) -> None:
        """Send a snapshot of the status.

        ``in_flight``: samples pulled and kept but not yet published (a snapshot sent between a chunk's pull and its
        publish), left out of ``samples_in`` so the snapshot keeps ``samples_in == samples_out + samples_rejected``
        (the README's contract); a worker killed before their publish leaves them to the next generation, which
        counts them lost from the output ring's last row, so they are counted once (before: in the killed
        generation's ``samples_in`` and again as lost; a status read then showed ``samples_in`` ahead of
        ``samples_out`` by that chunk)."""
        s = self.status
        now = pylsl.local_clock()
        s.state_norms = self.state_norms()
        s.record = self.recording()
        s.hist = {k: h.to_dict() for k, h in self.hists.items()}
        s.load = self.load(now)
        if s.stream is not None:
            s.stream["nonfinite"] = self.nonfinite()
        if s.output_stream is not None:
            s.output_stream["nonfinite"] = self.outputs_nonfinite()
            s.output_stream["same_source_id"] = self.outlet_twins()
            if (have := self.consumers()) is not None:
                s.output_stream["consumers"] = have
        if s.stall is not None and s.state == "stalled":
            s.stall["seconds"] = now - s.stall["since"]
        s.gc = {"collections": [g["collections"] for g in gc.get_stats()]}
        s.t = pylsl.local_clock()
        s.counters.samples_in -= in_flight
        try:
            self.sender.put((self.decoder_id, self.generation, s))  # pickled at once: the snapshot
        finally:
            s.counters.samples_in += in_flight
        self.next_report = s.t + self.interval

    def set_state(self, state: DecoderState, error: str | None = None, event: str | None = None) -> None:
        """Report ``state`` now (and ``error``); ``event``: the recording's event kind when not ``state``."""
        self.status.state = state
        if state == "error":  # no longer stalled (the error says what happened): as /metrics' stall_seconds, 0
            self.status.stall = None
        if error is not None:
            self.status.error = error
            log.error("decoder %s: %s", self.decoder_id, error)
        self.on_event(event or state, **({"error": error} if error else {}))
        self.report()

    def set_failed(self, code: int, error: str | None) -> None:
        """The failure that ends this worker with exit ``code``: ``error`` (final) for a refusal, else ``starting``.

        The supervisor restarts a crashed worker (or, its restarts used up, leaves it in ``error`` itself): only it
        knows which. Before, every failure said ``error`` at once, the README's final state, until the worker's end
        was seen (about 1 s for a Ray actor: a client polling for ``error`` took a decoder being restarted for a
        dead one). Either way the stall ends (the error says what happened: as /metrics' stall_seconds, 0), and a
        recording has an ``error`` event."""
        self.status.stall = None  # a crash ends any stall
        self.set_state("error" if code == EXIT_REFUSED else "starting", error, event="error")
