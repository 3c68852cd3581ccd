"""Finding a stream slot's source and opening everything around it (a part of
:class:`~bci_stream.service.stream_slot.StreamSlot`, its base class).

:meth:`StreamConnection.resolve` waits for the stream (up to ``resolve_timeout``) and opens an inlet on it;
:meth:`StreamConnection.connect` does everything slow before the first sample is decoded: it validates the stream
against the model card (channels, units), takes the first clock-offset estimate, and opens the decoded and
provenance outlets, the recording and the markers. A restarted worker generation also sends the provenance its last
generation left unsent, and waits up to :data:`RESUBSCRIBE_S` for the decoded stream's consumers to come back when
that generation had some.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import pylsl
from pylsl.util import LostError, TimeoutError as LslTimeoutError

from bci_stream.core.errors import StreamMismatchError, StreamNotFoundError
from bci_stream.lsl.info import read_labels, read_types
from bci_stream.lsl.liblsl import PULL_MAX_SAMPLES, ChunkPuller
from bci_stream.lsl.look import StreamLook
from bci_stream.lsl.outlets import DecodedOutlet, ProvenanceOutlet
from bci_stream.lsl.source import (NUMERIC_FORMATS, ClockOffset, build_predicate, check_stream,
                                  described, full_info, label_report, may_fit, unmapped_warning)
from bci_stream.lsl.units import recorded_channels, unit_scale
from bci_stream.lsl.visible import not_found_message
from bci_stream.service.consumer_wait import OPTION_WAIT, RESTART_WAIT, await_consumers
from bci_stream.service.markers import MarkerHub
from bci_stream.service.outlet_twins import OutletTwins
from bci_stream.service.output_names import input_clash
from bci_stream.service.provenance_replay import SentMark, report_missing_provenance, send_unsent_provenance, shown
from bci_stream.service.record_paths import open_recording
from bci_stream.service.reopen import inlet_buflen
from bci_stream.service.recorder import Recorder
from bci_stream.service.source_monitor import SourceMonitor
from bci_stream.service.stream_units import StreamUnits

if TYPE_CHECKING:  # the attributes and methods of StreamSlot used here
    import numpy as np

    from bci_stream.core.spec import DecoderSpec
    from bci_stream.core.status import WorkerStatus
    from bci_stream.engine.step_model import StepModel
    from bci_stream.service.commands import CommandHandler
    from bci_stream.service.decoding import StreamDecoder
    from bci_stream.service.reporter import StatusReporter
    from bci_stream.service.ring import OutputRing

RESUBSCRIBE_S = 3.0  # how long a restarted worker waits for its decoded stream's consumers (consumer_wait), s

log = logging.getLogger("bci_stream.worker")


class StreamConnection:
    """Resolve, open and connect a :class:`~bci_stream.service.stream_slot.StreamSlot`'s stream (its base class)."""

    # StreamSlot's attributes used here (and its methods event, orphaned and its property stopping)
    decoder_id: str
    generation: int
    spec: DecoderSpec
    model: StepModel | None
    ring: OutputRing | None
    recordings_dir: str | None
    recorder: Recorder | None
    markers: MarkerHub | None
    reporter: StatusReporter
    status: WorkerStatus
    commands: CommandHandler
    decoder: StreamDecoder | None
    monitor: SourceMonitor | None
    inlet: pylsl.StreamInlet | None
    puller: ChunkPuller | None
    outlet: DecodedOutlet | None
    twins: OutletTwins | None
    prov_outlet: ProvenanceOutlet | None
    clock: ClockOffset | None
    full: pylsl.StreamInfo | None
    chan_idx: np.ndarray | None
    units: StreamUnits | None
    sfreq: float
    budget: float
    stall_after: float
    lost_at_open: bool

    def predicate(self) -> str:
        """The LSL predicate of the decoder's stream selection."""
        sel = self.spec.stream
        return build_predicate(sel.name, sel.type, sel.source_id, sel.hostname)

    def resolve(self, poll_commands: bool = True) -> pylsl.StreamInfo | None:
        """Wait for the stream (up to ``resolve_timeout``, or until stopped) and open an inlet on it (its full info in
        :attr:`full`); None when stopped first. A stream that goes away before the inlet has its full info is looked
        for again (state ``connecting``), as a stream lost later is: a vanished source is not an error. Of the streams
        the selector matches, one that may fit the model is taken (:meth:`~bci_stream.lsl.look.StreamLook.choose`)."""
        predicate = self.predicate()
        timeout = self.spec.options.resolve_timeout
        deadline = None if timeout is None else pylsl.local_clock() + timeout
        look, card = StreamLook(predicate), self.model.card  # read at each pass: a Stop is taken, the status reported
        while not self.stopping and not self.orphaned():
            late = deadline is not None and pylsl.local_clock() > deadline
            if (info := look.choose(lambda i: may_fit(i, card), late)) is None:
                if late:
                    sel = self.spec.stream  # with the streams this host sees, a typo's first
                    like = sel.name or sel.type or sel.source_id or sel.hostname or ""
                    raise StreamNotFoundError(not_found_message(predicate, timeout, like))
                look.wait()
            else:
                if (unfit := look.unfit) is not None and unfit.uid() != info.uid():
                    log.info("decoder %s: %s cannot fit model %s; decoding %s, which the selector matches too",
                             self.decoder_id, described(unfit), card.ref, described(info))
                try:
                    self.full = self.open_inlet(info)
                    return info
                except (LslTimeoutError, LostError):  # gone since it was resolved (or unreachable): look again
                    log.warning("decoder %s: %s went away before its inlet had its info; looking for it again",
                                self.decoder_id, info.name())
                    self.inlet = self.full = None
                    look.went(info.uid())
                    if deadline is not None and pylsl.local_clock() > deadline:  # found, but never reachable
                        raise StreamNotFoundError(f"{predicate} was found but its inlet could not read the stream's "
                                                  f"info within {timeout:g} s (reachable for discovery, not for "
                                                  "data: a firewall or network addresses?)") from None
            if poll_commands:
                self.commands.poll()
            if self.reporter.timer_due(pylsl.local_clock()):
                self.reporter.report()
        return None

    def open_inlet(self, info: pylsl.StreamInfo) -> pylsl.StreamInfo:
        """A new inlet on ``info`` (recovering silently when the same source_id comes back); its full info."""
        opts = self.spec.options
        self.inlet = pylsl.StreamInlet(info, max_buflen=inlet_buflen(opts.max_buffer_s), recover=True)
        return full_info(self.inlet, info)  # its uid checked: not another stream now at the resolved port

    def connect(self, info: pylsl.StreamInfo) -> None:
        """Validate the stream against the card; open the inlet (its data flowing), the outlets, the recorder.

        Everything slow happens here, before :meth:`attach`, so no sample waits for it: the first
        clock-offset estimate (~0.5 s), the outlets, and a warm-up of the ONNX sessions.
        """
        model = self.model
        card = model.card
        opts = self.spec.options
        self.sfreq = info.nominal_srate()
        self.full = full = self.full if self.inlet is not None else self.open_inlet(info)  # opened by resolve()
        # the full info: a resolved one lacks the channel labels (desc), so it was mapped by position only
        self.chan_idx = chan_idx = check_stream(full, card)
        if (clash := input_clash(opts.output_name, opts.output_source_id, full.name(), full.source_id())) is not None:
            raise StreamMismatchError(clash)  # the output named as the input itself
        units = unit_scale(full, chan_idx, card.ch_names, card.unit, opts.input_unit)
        self.units = StreamUnits(units, chan_idx, self.sfreq, full.name())
        self.puller = ChunkPuller(self.inlet, PULL_MAX_SAMPLES, self.sfreq)
        self.monitor = SourceMonitor(full, self.predicate(), self.spec.stream.hostname, opts.source_grace_s)
        self.clock = ClockOffset.for_stream(full, opts.time_correction)
        self.update_clock(2.0)
        if self.clock.unmapped:
            log.warning("decoder %s: %s", self.decoder_id, unmapped_warning(full, 2.0))
        # liblsl's own re-subscriptions are checked at every chunk (got_data); with no estimate in 2 s, none comes soon:
        # no second wait (its measurement goes on in liblsl; a restart of the sender is seen by its silence instead)
        self.monitor.follow(self.inlet, 0.0 if self.clock.unmapped else 2.0)
        self.outlet = DecodedOutlet(full, card, instance=opts.output_instance, source_id=opts.output_source_id,
                                    name=opts.output_name)
        self.twins = OutletTwins(self.outlet.outlet.get_info(), self.decoder_id, self.event, pylsl.local_clock())
        self.reporter.outlet_twins = self.twins.describe
        ring = self.ring
        mark = None if ring is None else SentMark(ring)  # the provenance delivered, noted: a restart sends the rest
        self.prov_outlet = None if not opts.provenance else ProvenanceOutlet(
            self.outlet, self.sfreq, on_flush=mark and mark.flushed, on_close=mark and mark.closed)
        model.warm_up()
        n_stream = full.channel_count()
        fmt = NUMERIC_FORMATS[full.channel_format()]
        self.budget = (opts.latency_budget_ms / 1e3) if opts.latency_budget_ms else 0.0  # 0: the chunk's span
        self.stall_after = opts.stall_timeout_s or max(1.0, 20.0 / self.sfreq)
        labels = read_labels(full)  # per channel, None where the desc gives no label
        self.status.stream = {
            "name": full.name(),
            "type": full.type(),
            "source_id": full.source_id(),
            "hostname": full.hostname(),
            "uid": full.uid(),
            "n_chans": n_stream,
            "sfreq": self.sfreq,
            "channel_format": fmt,
            "ch_names": labels if any(labels) else None,
            "channel_map": None if chan_idx is None else chan_idx.tolist(),
            "units": self.units.describe(),
            "labels": label_report(labels, card.ch_names, read_types(full)),
            "flat_channels": [],  # model channels holding one value (flat_channels.FlatChannels)
        }
        if (why := self.status.stream["labels"].get("warning")) is not None:
            log.warning("decoder %s: stream %r: %s", self.decoder_id, full.name(), why)
        self.status.output_stream = {
            "name": self.outlet.name,
            "type": "Decoded",
            "source_id": self.outlet.source_id,
            "provenance": None if self.prov_outlet is None else self.prov_outlet.name,
        }
        if opts.record_path is not None:
            self.start_recorder(full, [label or f"ch{i + 1}" for i, label in enumerate(labels)], fmt)
        since = self.ring.last_timestamp() if self.ring is not None and self.generation > 1 else None
        self.markers = self.commands.markers = MarkerHub.start(  # commands: a restart's recovered markers
            opts.markers, card, full.name(), full.hostname(), self.sfreq, opts.time_correction, self.recorder,
            opts.gap_threshold_s, since, full, burst_s=opts.max_buffer_s)
        self.reporter.consumers = self.consumers
        if self.markers is not None:  # a marker is reported at once (WebSocket clients' ?markers=true), not 0.25 s on
            self.reporter.urgent = self.markers.waiting
        replay = self.generation > 1 and ring is not None and self.prov_outlet is not None
        if replay:  # a seq range the last worker numbered, never wrote: in a snapshot sent before any wait
            report_missing_provenance(ring, self.prov_outlet, self.event, lambda got: shown(self.reporter, got, True))
        if self.generation > 1 and ring is not None and ring.last_timestamp() is None:  # before this one notes any
            self.owed_since = ring.owed_after()  # no output yet: owed after what the last generation accounted for
        try:
            self.inlet.open_stream(timeout=10.0)
        except LslTimeoutError:  # the source went away since it was resolved: lost, looked for as at any other time
            log.warning("decoder %s: %s went away before its inlet opened", self.decoder_id, full.name())
            self.lost_at_open = True
        t0 = pylsl.local_clock()
        wait, resubscribe = opts.wait_for_consumer_s, 0.0
        if self.generation > 1:  # consumers of the last generation's outlet re-subscribe (none: nobody to wait for)
            none_before = (ring is not None and ring.had_consumers() is False
                           and ring.had_provenance_consumers() is not True)
            resubscribe = 0.0 if none_before else RESUBSCRIBE_S
            # no output yet (killed while waiting for a first consumer): the wait asked for still holds
            wait = max(wait, resubscribe) if ring is not None and ring.pending == 0 else resubscribe
        if wait > 0 and not self.lost_at_open:  # a restart holds its whole window: all consumers, not the first
            reason = OPTION_WAIT if wait == opts.wait_for_consumer_s else RESTART_WAIT
            waited, there = await_consumers(self, wait, resubscribe, reason)
            self.status.output_stream.update(consumer_waited_s=waited, consumer_at_first_output=there)
        if replay:  # before any row of its own
            shown(self.reporter, send_unsent_provenance(ring, self.prov_outlet, t0 + RESUBSCRIBE_S,
                                                        lambda: self.stopping, self.event))

    def consumers(self) -> bool | None:
        """Whether the decoded outlet has LSL consumers now (status ``output_stream.consumers``; None: no outlet).
        Once decoding, noted in the output ring too: the next worker generation waits for them only if there were."""
        if self.outlet is None:
            return None
        have = self.outlet.outlet.have_consumers()
        if self.ring is not None and self.decoder is not None:
            prov = self.prov_outlet
            self.ring.note_consumers(have, None if prov is None else prov.outlet.have_consumers())
        return have

    def start_recorder(self, full: pylsl.StreamInfo, ch_names: list[str], fmt: str) -> None:
        """Open the recording at ``record_path`` (its input stream ``full``, channels ``ch_names`` of format ``fmt``,
        and the decoded stream), with the clock offset and a ``start`` event."""
        stream = {
            "name": full.name(),
            "type": full.type(),
            "ch_names": ch_names,
            "sfreq": self.sfreq,
            "channel_format": fmt,
            "source_id": full.source_id(),
            **recorded_channels(full, self.spec.options.input_unit or self.model.card.unit),
        }
        output = {
            "name": self.outlet.name,
            "labels": self.model.card.output.labels,
            "sfreq": self.sfreq,
            "source_id": self.outlet.source_id,
            "model": self.status.model,
        }
        # StreamMismatchError naming record_path if it cannot be written
        self.recorder = rec = open_recording(self.recordings_dir, self.spec.options.record_path, self.generation,
                                             stream, output)
        rec.clock_offset(pylsl.local_clock(), self.clock.offset)
        self.reporter.recording = rec.state
        self.event("start", decoder_id=self.decoder_id, generation=self.generation, model=self.status.model)

    def update_clock(self, timeout: float, record: bool = True) -> None:
        """A new clock-offset estimate (waiting up to ``timeout`` s), into the status and, when it changed (and
        ``record``: not while a new instance's wait may still refuse it), the recording. None is taken between a
        new outlet instance's first chunk and its clock wait (:meth:`~bci_stream.service.stalls.StallHandling.
        begin_clock_wait`), while it is checked (``verify_pending``, the periodic :meth:`tick` going on meanwhile) or
        about to wait (``clock_stale``): an estimate taken there made the last instance's offset look like the new
        one's, and a bogus one near 0 (CI) made the wait end before it began, its samples published 1.5e9 s off."""
        if self.inlet is None or self.clock is None or self.verify_pending is not None or self.clock_stale \
                or self.check_pending is not None:
            return
        provisional, offset = self.clock.provisional_on, self.clock.offset
        self.status.clock_offset = self.clock.update(self.inlet, timeout)
        self.status.clock_estimate = self.clock.estimate
        self.status.clock_uncertainty = None if math.isnan(self.clock.uncertainty) else self.clock.uncertainty
        if provisional and not self.clock.provisional_on and self.refused_estimate(offset):
            return
        if record and self.recorder is not None and self.clock.changed:
            self.recorder.clock_offset(pylsl.local_clock(), self.clock.offset)
