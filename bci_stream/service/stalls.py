"""A stream slot's stalls, losses and reconnections (a part of :class:`~bci_stream.service.stream_slot.StreamSlot`).

A stall is not an error: a source that goes silent (a replay that ended, a sender that paused or died) puts the
decoder in state ``stalled`` with a ``stall`` description in its status (``kind``: ``silent``, ``lost`` or
``verifying``: :mod:`~bci_stream.service.return_check`; the ``reason``, ``since``: the ``local_clock()`` of the last
data, ``seconds`` silent so far, updated at each report),
counted in ``stalls``; data again clears it (``resumes``). ``error`` (the API's ``last_error``) is left to errors: a
stream that comes back changed (another channel count, rate or format, or, read from the new instance's full info,
another channel order, label or unit: :mod:`bci_stream.service.instance_check`), a refused model, a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pylsl

from bci_stream.lsl.info import read_labels, read_replay_speed, read_types
from bci_stream.lsl.liblsl import ChunkPuller
from bci_stream.lsl.source import label_report, may_fit
from bci_stream.service.instance_check import check_instance, fetch_full_info
from bci_stream.service.reopen import Reopening
from bci_stream.service.return_check import ReturnCheck
from bci_stream.service.source_monitor import NO_OTHER
from bci_stream.service.unsettled import note_unsettled

if TYPE_CHECKING:  # the attributes and methods of StreamSlot used here
    from bci_stream.core.spec import DecoderSpec
    from bci_stream.core.status import WorkerStatus
    from bci_stream.engine.step_model import StepModel
    from bci_stream.lsl.source import ClockOffset
    from bci_stream.service.commands import CommandHandler
    from bci_stream.service.decoding import StreamDecoder
    from bci_stream.service.recorder import Recorder
    from bci_stream.service.ring import OutputRing
    from bci_stream.service.reporter import StatusReporter
    from bci_stream.service.source_monitor import SourceMonitor
    from bci_stream.service.stream_units import StreamUnits

log = logging.getLogger("bci_stream.worker")

LOST_REASON = "stream lost; waiting for the same source to come back"
#: how long the first data of a new outlet instance of a stream from another clock waits for its clock offset, s
NEW_INSTANCE_CLOCK_S = 3.0
#: with no estimate of its own, the last instance's offset stamps a new instance only if it puts the first chunk's
#: last sample at most AHEAD_MAX_S ahead of that chunk's arrival here and at most LATE_MAX_S behind it (s); otherwise
#: the instance is on another clock (a rebooted host's), and its arrival stamps it until an estimate comes
AHEAD_MAX_S, LATE_MAX_S = 1.0, 10.0
#: a silence this long of a stream liblsl cannot flag re-subscriptions of is followed by a look for a new instance, s
UNFLAGGED_SILENCE_S = 0.25


class StallHandling(ReturnCheck, Reopening):
    """Stall, resume, loss and reconnection of a :class:`~bci_stream.service.stream_slot.StreamSlot` (a mixin)."""

    # StreamSlot's attributes used here (and its methods event, open_inlet, update_clock)
    decoder_id: str
    spec: DecoderSpec
    model: StepModel | None
    commands: CommandHandler
    full: pylsl.StreamInfo | None
    chan_idx: np.ndarray | None
    units: StreamUnits | None
    status: WorkerStatus
    reporter: StatusReporter
    decoder: StreamDecoder | None
    monitor: SourceMonitor | None
    inlet: pylsl.StreamInlet | None
    puller: ChunkPuller | None
    stall_after: float
    last_data: float
    clock: ClockOffset | None
    recorder: Recorder | None
    ring: OutputRing | None
    clock_stale: bool = False  # a new outlet instance whose clock offset is not known yet
    #: when that instance passed its check (local_clock()): its clock wait counts from then, not from its first
    #: chunk's arrival (before, a check or a verify wait of 3 s or more left no time to measure its offset: review s49
    #: F6); None: no check since the last wait began
    checked_at: float | None = None
    clock_wait_until: float | None = None  # its first data waits for its clock offset until then
    clock_wait_offset: float | None = None  # the last instance's offset, kept if no estimate comes
    #: the last instance's last sample on this host's clock, its arrival, the new instance's first arrival
    clock_wait_from: tuple[float, float, float] | None = None
    clock_wait_first: tuple[float, float] | None = None  # the new instance's first chunk: its last stamp, its arrival
    last_chunk: tuple[float, float] | None = None  # the last chunk's last stamp and its arrival
    estimates_refused = 0  # estimates refused since the last new instance stamped by arrival

    def got_data(self, first_ts: float, now: float, last_ts: float | None = None) -> None:
        """A chunk stamped ``first_ts`` to ``last_ts`` arrived at ``now``: first, if liblsl re-subscribed the inlet to
        a new outlet instance (stalled or not), check that instance against the stream decoding started on
        (StreamMismatchError: nothing of this chunk is decoded; not found yet: :attr:`verify_pending`, the chunk is
        held, :mod:`~bci_stream.service.return_check`); then resume a stalled stream."""
        before, self.last_data = self.last_data, now
        self.last_chunk = (first_ts if last_ts is None else last_ts, now)
        if self.monitor.resubscribed():
            self.begin_verify(first_ts, now, before, last_ts)
            return
        if now - before > UNFLAGGED_SILENCE_S and self.status.state == "running" and self.clock is not None \
                and self.clock.unmapped:  # liblsl cannot flag a re-subscription: was it another instance?
            if not self.note_reconnect(self.monitor.replaced(self.status.stream["uid"]), (first_ts, now, before,
                                                                                         last_ts)):
                return  # its check goes on in a helper thread; this chunk is held until it passed
        self.after_data(first_ts, now, before, last_ts)

    def after_data(self, first_ts: float, now: float, before: float, last_ts: float | None) -> None:
        """Data of a checked instance: resume a stalled stream; the first data of a new instance waits for its
        clock offset."""
        if self.status.state == "stalled":
            self.on_resume(first_ts, (first_ts, now, before, last_ts))
        if self.clock_stale:
            self.clock_stale = False
            self.begin_clock_wait(now, before, first_ts if last_ts is None else last_ts)

    def idle(self, now: float) -> None:
        """No data at this wake-up: a stall once silent for ``stall_after``; while stalled, look for the source."""
        if self.status.state == "running" and now - self.last_data > self.stall_after:
            self.on_stall(now - self.last_data)
        if self.status.state == "stalled":
            self.check_source(now)

    def settle_gaps(self, final: bool = True) -> None:
        """A suspected loss closed now (a stall, a stop: ``final``), its count sent at once, and the ring's header says
        so: a next generation does not count it again (:mod:`~bci_stream.service.unsettled`)."""
        self.decoder.gaps.settle(self.status.counters, final)
        if self.ring is not None:
            self.hand_over_losses()

    def hand_over_losses(self, in_flight: int = 0) -> None:
        """For a next generation (the ring outlives this one): a loss counted is sent now, then the ring's header
        notes where the accounting stands (a suspected loss still judged, or none). ``in_flight``: the kept samples
        of a chunk about to be published (:meth:`StatusReporter.report`)."""
        self.reporter.report_loss(in_flight)
        note_unsettled(self.ring, self.decoder.gaps, self.decoder.seq, self.clock)

    def on_stall(self, silent_s: float, lost: bool = False) -> None:
        self.status.counters.stalls += 1
        if self.decoder is not None:  # a loss just before the silence
            self.settle_gaps(final=False)
        self.status.state, self.status.source_present = "stalled", None  # None: not looked for yet
        reason = LOST_REASON if lost else f"no data for longer than stall_timeout_s={self.stall_after:g}"
        self.status.stall = {"kind": "lost" if lost else "silent", "reason": reason, "since": self.last_data,
                             "seconds": silent_s, **NO_OTHER}
        self.event("stall", seconds=silent_s)
        self.monitor.start()
        self.reporter.report()

    def on_resume(self, first_ts: float, arrival: tuple[float, float, float, float | None] | None = None) -> None:
        """Data again (``arrival``: :meth:`after_data`'s arguments); a new instance's check read in a helper thread
        (:meth:`~bci_stream.service.return_check.ReturnCheck.begin_check`) resumes it once it passed."""
        if not self.note_reconnect(self.monitor.stop(), arrival):
            return
        self.status.counters.resumes += 1
        self.status.state, self.status.stall = "running", None
        self.event("resume", first_timestamp=first_ts)
        self.update_clock(0.0)
        self.reporter.report()

    def on_lost(self) -> None:
        """The source is gone and liblsl cannot recover it (no source_id): re-resolve it ourselves."""
        log.warning("decoder %s: stream lost; waiting for it to come back", self.decoder_id)
        self.inlet.close_stream()
        self.inlet = None
        if self.status.state != "stalled":
            self.on_stall(0.0, lost=True)
        else:
            self.status.stall.update(kind="lost", reason=LOST_REASON)
        self.status.source_present = False

    def check_source(self, now: float) -> None:
        """While stalled: the same source back with the same shape → resume (reopening a lost inlet); back changed,
        or gone for ``source_grace_s`` while another stream that may fit the model matches the selector →
        StreamMismatchError (the stream ends; the service stays up). Meanwhile the ``stall`` names that other stream
        (``other_stream``, ``other_fits``, ``ends_at``, ``note``: :attr:`SourceMonitor.other`)."""
        info, uid = self.monitor.check(now, self.fits_model)
        if self.status.stall is not None:
            self.status.stall.update(self.monitor.other)
        here = self.status.stream["uid"] in self.monitor.present  # the instance decoded is still up (silent)
        self.status.source_present = here if self.monitor.checked else None
        if uid is not None:  # an open of an instance seen before goes on: that instance is not the one followed now
            self.cancel_reopen()  # (first: a check begun next says the stall's kind before the open, not ``opening``)
        self.note_reconnect(uid)  # a new instance: checked (labels, units) before an inlet is opened on it
        if uid is not None and self.inlet is not None and here:
            self.inlet.close_stream()  # bound to an instance still there but silent: follow the new one
            self.inlet = None
        if info is not None and self.inlet is None and self.reopen_pending is None:  # same source, same shape
            if self.check_pending is not None:  # a new instance being checked in a helper thread: opened once passed
                if uid is not None or self.reopen_after_check is None:  # that instance (a later look may list the
                    self.reopen_after_check = info                        # old, silent one first)
            else:
                self.reopen(info)

    def fits_model(self, info: pylsl.StreamInfo) -> bool:
        """Whether a stream the selector matches may fit the running model (rate, format, channel count: the rule
        a first connection passes over a find by, :func:`~bci_stream.lsl.source.may_fit`)."""
        return may_fit(info, self.decoder.card if self.decoder is not None else self.model.card)

    def note_reconnect(self, uid: str | None, arrival: tuple[float, float, float, float | None] | None = None
                       ) -> bool:
        """Count a reconnection when the source came back as a new outlet instance (a new LSL uid), once its full
        info passed :meth:`check_new_instance` (StreamMismatchError otherwise: none of its samples is decoded).
        False when that check goes on in a helper thread (:attr:`poll_checks`: the shared worker;
        :meth:`~bci_stream.service.return_check.ReturnCheck.begin_check`, ``arrival`` handled once it passed)."""
        if uid is None:
            return True
        if self.poll_checks:
            self.begin_check(uid, arrival)
            return False
        self.check_new_instance()
        self.reconnected(uid)
        return True

    def reconnected(self, uid: str) -> None:
        """The new instance ``uid`` passed its check: it is the stream decoded now."""
        self.status.stream["uid"] = uid
        self.status.counters.reconnects += 1
        self.event("reconnect", uid=uid)
        self.clock_stale = True  # its first data waits for a clock offset of its own (begin_clock_wait)
        self.checked_at = pylsl.local_clock()

    def begin_clock_wait(self, now: float, before: float, last_ts: float | None = None) -> None:
        """The first data of a new outlet instance: none of it is stamped before an offset estimate of its own comes
        (up to :data:`NEW_INSTANCE_CLOCK_S`, the inlet buffering meanwhile; :meth:`clock_pending`), unless the stream
        is from this host and read on its clock (offset 0) with samples that fit it (:meth:`fits_arrival`, as the last
        instance's did; before, offset 0 alone sufficed, and a bogus estimate near 0 taken then sent a rebooted
        sender's samples out 1.5e9 s off, in CI): a sender host that rebooted restarted its clock, and its
        first ~0.3 s were published with the last instance's offset, 2.6e8 s off in an exploratory run (a reboot
        simulated with libfaketime). The status's ``clock_wait`` describes the last wait: ``since`` (``local_clock()``),
        ``seconds`` (None while waiting), ``estimate`` (whether one came, or the deadline ended the wait), and
        ``offset_from: "arrival"`` when the offset it would be stamped with is no fit for it (:meth:`misfit`).
        ``last_ts``: the last stamp of the new instance's first chunk, which arrived at ``now``. The wait counts from
        ``now``, or from when the instance passed its check (:attr:`checked_at`) if later."""
        clock, checked_at, self.checked_at = self.clock, self.checked_at, None
        if clock is None or clock.mode == "none":
            return
        last = self.status.last_timestamp  # the last decoded sample's stamp on this host's clock, as published
        if clock.same_host and clock.zero and (last_ts is None or last is None or self.fits_arrival(last_ts, now)
                                               or not self.fits_arrival(last, before)):
            return  # this host's clock, and its samples fit it as the last instance's did (or neither did: as before)
        # None: that instance's stamps went out as sent (no estimate; an offset from arrivals is one: provisional)
        self.clock_wait_offset = None if clock.zero else clock.offset
        self.clock_wait_from = None if last is None else (last, before, now)
        self.clock_wait_first = None if last_ts is None else (last_ts, now)
        clock.forget()
        start = now if checked_at is None else max(now, checked_at)  # a check's time is not taken from the wait
        self.clock_wait_until = start + NEW_INSTANCE_CLOCK_S
        self.status.clock_wait = {"since": start, "seconds": None, "estimate": None}

    def clock_pending(self, now: float, wait: float = 0.0) -> bool:
        """Whether the new instance's first data still waits for its clock offset: a new estimate (waiting up to
        ``wait`` s for it) or the deadline ends the wait (a warning if no estimate came: the last instance's offset
        stamps its samples until one does). A dedicated worker waits in here; a shared worker polls (``wait`` 0),
        its other streams decoding meanwhile (before, the loop blocked in liblsl's wait: a new instance of a stream
        from another host held every stream of the worker for ~0.7 s, and up to 3 s with no estimate)."""
        until = self.clock_wait_until
        if until is None:
            return False
        self.update_clock(wait, record=False)  # recorded below, if used
        came = self.clock.estimated
        if not came and now + wait < until:
            return True
        self.clock_wait_until = None
        wait_s = pylsl.local_clock() - self.status.clock_wait["since"]
        self.status.clock_wait.update(seconds=wait_s, estimate=came)
        self.event("clock_wait", seconds=wait_s, estimate=came)
        was = self.clock_wait_offset
        ahead = self.misfit()
        if (since := self.clock_wait_from) is not None and self.decoder is not None:
            self.decoder.new_instance(self.rebase(since, came and was is not None and ahead is None))
        if ahead is not None:
            offset = self.stamp_by_arrival()
            own = (f"its own estimate ({self.clock.estimate:+.6f} s), which cannot be of its clock (the last "
                   "instance's samples fitted their arrival),")
            whose = own if came else ("its stamps as sent (offset 0)" if was is None
                                      else f"the last instance's offset ({was:+.6f} s)")
            log.warning("decoder %s: the new instance's first samples are stamped by their arrival here (offset "
                        "%+.6f s) until %s: %s put them %+.3g s from their arrival", self.decoder_id, offset,
                        "a later estimate" if came else "an estimate comes", whose, ahead)
        elif self.recorder is not None and self.clock.changed:  # its estimate, used
            self.recorder.clock_offset(pylsl.local_clock(), self.clock.offset)
        if ahead is None and not came:
            how = ("used as sent (unmapped), as the last instance's were" if was is None
                   else f"stamped with the last instance's offset ({was:+.6f} s)")
            log.warning("decoder %s: no clock offset estimate of the new instance within %g s: its first samples are "
                        "%s", self.decoder_id, NEW_INSTANCE_CLOCK_S, how)
        return False

    def misfit(self) -> float | None:
        """How far (s) the offset now puts the new instance's first chunk from its arrival here, when that is more
        than :data:`AHEAD_MAX_S` ahead or :data:`LATE_MAX_S` late (None: it fits, or nothing to judge by). Judged only
        when the last instance's last decoded sample fitted its own arrival so: a sender stamping with Unix time, or
        a replay keeping a file's old stamps, goes on as its last instance did. Before: a rebooted host's samples went
        out 1.5e9 s off with the last instance's offset whenever its time probes went unanswered for 3 s (a loaded
        machine), and once with an estimate of its own that put them there (CI, ``test_reconnect_clock``); a last
        instance stamped as sent (offset 0) was not judged at all: a same-host sender back with another clock, or an
        estimate near 0 (a bogus one, CI), went out 1.5e9 s off, unwarned."""
        if self.clock_wait_first is None or self.clock_wait_from is None:
            return None
        last_here, last_arrival, _ = self.clock_wait_from
        if not self.fits_arrival(last_here, last_arrival):
            return None
        last_ts, arrival = self.clock_wait_first
        ahead = float(self.clock.mapped(np.array([last_ts]))[0]) - arrival
        return None if self.fits_arrival(ahead + arrival, arrival) else ahead

    @staticmethod
    def fits_arrival(stamp: float, arrival: float) -> bool:
        """A sample stamped ``stamp`` on this host's clock may have arrived at ``arrival``: at most
        :data:`AHEAD_MAX_S` ahead of it, :data:`LATE_MAX_S` late."""
        return -LATE_MAX_S <= stamp - arrival <= AHEAD_MAX_S

    def refused_estimate(self, offset: float) -> bool:
        """The first estimate after an instance was stamped by arrival (``offset``), refused if it puts the last
        chunk outside the bounds of :meth:`misfit` (the arrival's offset kept: no step): liblsl refreshes a refused
        estimate every few seconds, and each refresh was taken (the stamps 1.5e9 s off again)."""
        if self.last_chunk is None:
            return False
        last_ts, arrival = self.last_chunk
        ahead = float(self.clock.mapped(np.array([last_ts]))[0]) - arrival
        if self.fits_arrival(ahead + arrival, arrival):
            return False
        self.clock.provisional(last_ts, offset)
        self.status.clock_offset = offset
        self.estimates_refused += 1
        if self.estimates_refused == 1:  # logged once per instance
            log.warning("decoder %s: a clock offset estimate (%+.6f s) put the stream's last samples %+.3g s from "
                        "their arrival: refused, as every such one (stamped by arrival, offset %+.6f s)",
                        self.decoder_id, self.clock.estimate, ahead, offset)
        return True

    def stamp_by_arrival(self) -> float:
        """Stamp the new instance by its first chunk's arrival (its last sample then, the latest offset that chunk
        allows: a sample arrives after it was taken) until its next estimate (:meth:`ClockOffset.provisional`); the
        offset, into the status (``clock_wait.offset_from: "arrival"``) and the recording."""
        last_ts, arrival = self.clock_wait_first
        offset = arrival - last_ts
        self.clock.provisional(last_ts, offset)
        self.estimates_refused = 0
        self.status.clock_offset = offset
        self.status.clock_wait["offset_from"] = "arrival"
        if self.recorder is not None:
            self.recorder.clock_offset(pylsl.local_clock(), offset)
        return offset

    def rebase(self, since: tuple[float, float, float], mapped: bool) -> Callable[[float], float]:
        """The last instance's last sample on the new instance's clock, from that instance's first stamp: through
        both instances' offsets (``mapped``: each had an estimate), else by the data's arrivals here (the last
        instance's last chunk, the new one's first)."""
        last_here, last_arrival, first_arrival = since
        if mapped:
            clock = self.clock
            return lambda first: last_here - (float(clock.mapped(np.array([first]))[0]) - first)
        return lambda first: first - (first_arrival - last_arrival)

    def await_clock(self) -> None:
        """A dedicated worker (its only stream): wait here for the new instance's clock offset, up to the deadline."""
        if (until := self.clock_wait_until) is not None:
            now = pylsl.local_clock()
            self.clock_pending(now, max(0.0, until - now))

    def check_new_instance(self) -> None:
        """Read the full info of the new outlet instance the monitor found and check it against the running model
        and the instance decoded so far (:func:`~bci_stream.service.instance_check.check_instance`): the same channel
        map, unit factors, labels and units, or StreamMismatchError naming what changed. Once per new instance.
        Accepted, it becomes the stream the status describes and the next checks (and a hot swap) compare with; its
        units go through :meth:`~bci_stream.service.stream_units.StreamUnits.change` (an amplitude warning of the same
        assumed unit stays until the new instance's own first 2 s are checked)."""
        fresh, was = self.monitor.fresh, self.full or self.monitor.source
        if fresh is None:
            return
        self.accept_instance(fetch_full_info(fresh, was), was)

    def accept_instance(self, full: pylsl.StreamInfo, was: pylsl.StreamInfo) -> None:
        """:meth:`check_new_instance` of the full info ``full`` read (``was``: the instance decoded so far)."""
        dec = self.decoder
        card = dec.card if dec is not None else self.model.card
        chan_idx = dec.chan_idx if dec is not None else self.chan_idx
        scale = np.asarray(dec.state.scale).reshape(-1) if dec is not None else self.units.scale
        units = check_instance(full, was, card, chan_idx, scale, self.spec.options.input_unit)
        labels = read_labels(full)
        if self.status.stream is not None:
            self.status.stream.update(ch_names=labels if any(labels) else None,
                                      labels=label_report(labels, card.ch_names, read_types(full)),
                                      units=self.units.change(units, chan_idx, new_instance=True))
        self.full = self.monitor.source = full
        if (checks := getattr(self, "stamp_checks", None)) is not None:  # a new instance: a replay at another speed
            checks.speed = read_replay_speed(full)
            if dec is not None:
                dec.set_speed(checks.speed)
        if self.commands.source is not None:
            self.commands.source = full
