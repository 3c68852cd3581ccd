"""A stream slot's wait for the outlet instance liblsl re-subscribed to be checked (a part of
:class:`~bci_stream.service.stalls.StallHandling`).

liblsl switches a recovering inlet to a new outlet instance of the source by itself; its channel count, rate and
format are checked (:meth:`~bci_stream.service.source_monitor.SourceMonitor.poll_verify`) before any of its samples is
decoded. Until a resolve finds that instance, the decoder is ``stalled`` (``stall.kind`` ``verifying``, the reason and
for how long in ``stall``), the instance's first chunk is held and the later ones wait in the inlet; once the
instance is found with the same shape, they are all decoded, in order (a loss only if the inlet's buffer overflowed,
counted by the stamps' gap as any other). Found with another shape: StreamMismatchError, as before. Before, an
instance no resolve found within 3 s (a loaded machine) ended the decoder in ``error``, for good, and the shared
worker's other streams waited out those 3 s.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pylsl
from pylsl.util import LostError

from bci_stream.lsl.gaps import GapTracker
from bci_stream.service.instance_check import FullInfoRead
from bci_stream.service.unsettled import resume_gaps

if TYPE_CHECKING:
    from collections.abc import Callable

    from bci_stream.core.spec import DecoderSpec
    from bci_stream.lsl.liblsl import ChunkPuller
    from bci_stream.lsl.source import ClockOffset
    from bci_stream.service.ring import OutputRing
    from bci_stream.service.decoding import StreamDecoder
    from bci_stream.core.status import WorkerStatus
    from bci_stream.service.reopen import InletOpen
    from bci_stream.service.reporter import StatusReporter
    from bci_stream.service.source_monitor import SourceMonitor

log = logging.getLogger("bci_stream.worker")

VERIFY_REASON = ("the stream came back as a new outlet instance (liblsl re-subscribed to it), which no resolve of "
                 "{pred} has found yet, so its channel count, rate and format are not checked: waiting to verify it "
                 "(looking again without end); its samples are held and decoded once it is verified")
CHECK_REASON = ("the stream came back as a new outlet instance whose full info (channel labels and units) is being "
                "read to check it, in a helper thread (the worker's other streams decode on); its samples are held and "
                "decoded once it passed")


class ReturnCheck:
    """The wait for a returned outlet instance's check, of a :class:`~bci_stream.service.stalls.StallHandling`."""

    decoder_id: str
    status: WorkerStatus
    reporter: StatusReporter
    monitor: SourceMonitor | None
    puller: ChunkPuller | None = None
    inlet: pylsl.StreamInlet | None = None
    decoder: StreamDecoder | None = None
    owed_since: float | None = None  # a restarted worker's, its predecessor having published nothing (count_owed)
    count_owed: Callable[[np.ndarray], None]
    note_owed_after: Callable[[float], None]
    clock: ClockOffset | None = None
    ring: OutputRing | None = None
    spec: DecoderSpec
    sfreq: float
    generation: int
    held: tuple[np.ndarray, np.ndarray, float, float] | None = None
    #: while the instance liblsl re-subscribed to waits for its check: its first chunk's first stamp, arrival, the
    #: arrival of the data before it and its last stamp (what :meth:`after_data` takes once it is checked)
    verify_pending: tuple[float, float, float, float | None] | None = None
    #: check a new instance's full info in a helper thread, polled (the shared worker), not waiting for it
    poll_checks = False
    stall_before_check: dict[str, str | None] = {"kind": "silent", "reason": None}  # the stall's, said again after
    #: while that read goes on: the read, the instance's uid, the instance decoded so far, and the arguments of
    #: :meth:`after_data` of its first chunk (held) if one came
    check_pending: tuple[FullInfoRead | None, str, pylsl.StreamInfo, tuple[float, float, float, float | None] | None
                         ] | None = None
    #: what check_source found to open while that read went on (an inlet closed on a silent instance, or a lost
    #: one): opened once it passed (before: the monitor's next look, which may list the old, silent instance first)
    reopen_after_check: pylsl.StreamInfo | None = None
    reopen_pending: InletOpen | None  # an open of the source in a helper thread (:class:`~.reopen.Reopening`)

    def begin_verify(self, first_ts: float, now: float, before: float, last_ts: float | None) -> None:
        """A chunk of the new instance arrived: check the instance (at once if a resolve finds it now), else wait,
        stalled, and look again at each :meth:`poll_verify` (the worker holds the chunk meanwhile)."""
        self.verify_pending = (first_ts, now, before, last_ts)
        self.monitor.begin_verify()
        if not self.poll_verify(now):
            return
        if self.status.state != "stalled":  # a sender that restarted faster than stall_timeout_s
            self.on_stall(0.0)
        self.status.stall.update(kind="verifying", reason=VERIFY_REASON.format(pred=self.monitor.verify_predicate()),
                                 verify_since=now)
        self.event("verify_wait", predicate=self.monitor.verify_predicate())
        self.reporter.report()

    def poll_verify(self, now: float) -> bool:
        """Whether the returned instance still waits for its check (no resolve found it yet); once found with the
        same shape, the reconnection is counted and the held data's arrival handled (:meth:`after_data`)."""
        if self.verify_pending is None:
            return False
        verified, uid = self.monitor.poll_verify()
        if not verified:
            return True
        first_ts, at, before, last_ts = self.verify_pending
        self.verify_pending = None
        if self.note_reconnect(uid, (first_ts, at, before, last_ts)):
            self.after_data(first_ts, at, before, last_ts)
        return False

    def begin_check(self, uid: str, arrival: tuple[float, float, float, float | None] | None) -> None:
        """The new instance ``uid``: its full info read in a helper thread (:class:`FullInfoRead`), the stream out of
        the worker's pulls (a stalled one's ``stall.kind`` ``checking``) until :meth:`poll_check` finds it read and
        checked; ``arrival``: its first chunk's (held meanwhile), handled then. Before, the shared worker's loop read
        it itself: a sender stopped after a resolve found its new instance held every other stream of the worker up
        to 3 s (audit s49)."""
        if self.check_pending is not None and arrival is None:  # a newer instance: the first chunk is still held
            arrival = self.check_pending[3]
        fresh, was = self.monitor.fresh, self.full or self.monitor.source
        self.check_pending = (None if fresh is None else FullInfoRead(fresh, was), uid, was, arrival)
        if self.status.stall is None:  # a sender that restarted faster than stall_timeout_s: no stall, as before
            return
        if self.status.stall.get("kind") != "checking":  # said again once it passed, if still stalled
            self.stall_before_check = {k: self.status.stall.get(k) for k in ("kind", "reason")}
        self.status.stall.update(kind="checking", reason=CHECK_REASON, check_since=pylsl.local_clock())
        self.reporter.report()

    def poll_check(self) -> bool:
        """Whether the returned instance's full info is still being read; once read and checked (the errors of
        :meth:`check_new_instance` otherwise), the reconnection is counted and its held chunk's arrival handled."""
        if self.check_pending is None:
            return False
        read, uid, was, arrival = self.check_pending
        try:
            full = None if read is None else read.result()
        except BaseException:  # the stream ends: check_pending kept, so its held chunk is said lost to the check
            self.reopen_after_check = None
            raise
        if read is not None and full is None:
            return True
        info, self.reopen_after_check = self.reopen_after_check, None
        if full is not None:
            self.accept_instance(full, was)  # StreamMismatchError: the stream ends (nothing reopened)
        self.check_pending = None
        self.reconnected(uid)
        # no data yet: the stall says what it said before the check; first, so that an open begun next says that
        # kind once it ended, not ``checking``
        if self.status.stall is not None and self.status.stall.get("kind") == "checking":
            self.status.stall.update(self.stall_before_check, check_since=None)
        if self.inlet is None and info is not None:  # what check_source found, to be opened once this passed
            self.reopen(info, checked=True)
        if self.inlet is None and self.reopen_pending is None:  # not opened (or gone again): the next check_source
            self.monitor.look_now()  # looks at once, not after backoff
        if arrival is not None:
            self.after_data(*arrival)
        return False

    def hold_chunk(self, x: np.ndarray, ts: np.ndarray, t_call: float, t0: float) -> bool:
        """Keep a copy of a pulled chunk (``x`` is a view of the reused pull buffer) while its instance waits for its
        check or its clock offset; False (nothing held) when it waits for neither. The worker takes it back with
        :meth:`take_held` once the wait ended, before pulling this stream again."""
        if self.verify_pending is None and self.check_pending is None and not self.clock_pending(t0):
            return False
        self.held = (x.copy(), ts.copy(), t_call, t0)
        return True

    def take_held(self) -> tuple[np.ndarray, np.ndarray, float, float] | None:
        held, self.held = self.held, None
        return held

    def drop_held(self) -> None:
        """The decoder ends with a chunk held (pulled, never decoded): its samples are counted as lost, said in the
        log and the recording (``held_lost``). Before, they were in no counter of the final status. So are the rows
        its puller held (a run of stamps liblsl deduced from 0 that no stamped sample followed), and the input that
        waited in its inlet when it ends before it pulled any (:meth:`drop_unpulled`)."""
        self.drop_unpulled()
        if (puller := self.puller) is not None and puller.pending():
            self._count_lost(puller.flush()[1], "a stamped sample after stamps liblsl deduced from 0")
        if (held := self.take_held()) is not None:
            self._count_lost(held[1], "its outlet instance's check" if self.verify_pending is not None
                             or self.check_pending is not None else "its clock offset")

    def drop_unpulled(self, limit: int = 1 << 24) -> None:
        """The decoder ends before this worker generation pulled any input: stopped (a DELETE, the service's end)
        while it waited for a consumer of its decoded stream (``options.wait_for_consumer_s``, or a restarted worker's
        window for its consumers to re-subscribe), its input waiting in the inlet. Those samples (at most ``limit``)
        are pulled and counted lost, with the gap before them that its first chunk would have counted (a restarted
        worker's: since its last generation's last output); before, they were in no counter (audit s63fault F8: 1,000
        of 1,000 samples held by a wait, 1,275 after a restart)."""
        puller = self.puller
        if puller is None or self.inlet is None or self.clock is None or self.status.counters.samples_in:
            return
        chunks, n = [], 0
        try:
            while n < limit and len(ts := puller.pull(0.0)[1]):
                chunks.append(ts.copy())
                n += len(ts)
        except LostError:  # the source is gone: what was pulled is counted
            pass
        if not chunks:
            return
        ts = np.concatenate(chunks)
        if self.decoder is not None:  # attached (its tracker resumed after the last generation's output)
            gaps = self.decoder.gaps
            if self.owed_since is not None:  # a restarted worker whose predecessor published nothing
                self.count_owed(ts)
        else:  # stopped before it attached (a shared worker's start): the same accounting, here
            gaps, offset = GapTracker(self.sfreq, self.spec.options.gap_threshold_s), self.clock.offset
            since = self.owed_since
            if since is not None and since < float(self.clock.mapped(ts[:1])[0]):
                gaps.resume_after(since - offset)
            elif since is None and self.ring is not None and self.generation > 1:
                resume_gaps(self.ring, gaps, offset)
        gaps.split(ts, self.status.counters)
        gaps.settle(self.status.counters, final=True)
        self._count_lost(ts, "a consumer of its decoded stream (it was stopped before it decoded)")
        self.note_owed_after(float(self.clock.mapped(ts[-1:])[0]))  # a next generation owes only what came after

    def _count_lost(self, ts: np.ndarray, why: str) -> None:
        """Pulled samples stamped ``ts`` that the ending decoder never decoded (they waited for ``why``): counted in
        ``samples_lost``, said in the log and as a ``held_lost`` event."""
        self.status.counters.samples_lost += len(ts)
        log.warning("decoder %s: ended while %d pulled samples (from stamp %.6f) waited for %s: counted as lost",
                    self.decoder_id, len(ts), float(ts[0]), why)
        self.event("held_lost", samples=len(ts), first_timestamp=float(ts[0]), waited_for=why)
