"""One decoded stream inside a worker process: its inlet, decoder, outlets, ring, recorder, markers, status.

A :class:`StreamSlot` is everything a worker holds for one decoder, whatever process hosts it: the dedicated
worker drives one (:class:`~bci_stream.service.worker.DecoderWorker`), the shared worker many (``SharedWorker``).
The parts, one concern each: :class:`~bci_stream.service.decoding.StreamDecoder` (channel map, NaN policy, gaps,
the step graph and its state), ``SourceMonitor`` (a silent stream: back, changed or replaced?), ``CommandHandler``
(typed commands from the supervisor on this decoder's own pipe), ``StatusReporter`` (typed status snapshots on
this decoder's own latest-wins pipe), ``LoadWindow`` (the recent load: rates, busy fraction, backlog) and
``StallHandling`` (stalls, losses, reconnections). Nothing it sends can block the loop.

Lifecycle: :meth:`load` (the model), :meth:`resolve` (wait for the stream, create its inlet), :meth:`connect`
(validate it, open the inlet, outlets, recorder, markers: the slow part), :meth:`attach` (the decoding state, then
``running``), then per wake-up :meth:`process` (or :meth:`publish` after a batched step), :meth:`idle`,
:meth:`tick`, and finally :meth:`close`.

Finding the stream and opening everything around it (:meth:`resolve`, :meth:`connect`) is in
:mod:`bci_stream.service.slot_connect` (:class:`~bci_stream.service.slot_connect.StreamConnection`, a base class like
``StallHandling``); this module holds the slot's parts, its model and decoding state, and the per wake-up path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import pylsl

from bci_stream.core.errors import ModelError
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.engine.step_model import StepModel
from bci_stream.lsl.info import read_replay_speed
from bci_stream.lsl.liblsl import ChunkPuller
from bci_stream.lsl.zero_stamps import restamped_message
from bci_stream.lsl.outlets import DecodedOutlet, ProvenanceOutlet
from bci_stream.lsl.source import ClockOffset
from bci_stream.service.commands import CommandHandler
from bci_stream.service.decoding import StateHost, StreamDecoder, model_info
from bci_stream.service.divergence import DivergenceWatch
from bci_stream.service.outlet_twins import OutletTwins
from bci_stream.service.owed_mark import OwedMark
from bci_stream.service.liveness import LoadWindow
from bci_stream.service.markers import MarkerHub
from bci_stream.service.model_pin import describe_pin, pinned_model
from bci_stream.service.pool_messages import SavedState
from bci_stream.service.recorder import Recorder
from bci_stream.service.reporter import StatusReporter
from bci_stream.service.ring import OutputRing, RingHandles
from bci_stream.service.saturation import SaturationWatch
from bci_stream.service.scoring_notes import MapWarningNotice
from bci_stream.service.slot_connect import StreamConnection
from bci_stream.service.source_monitor import SourceMonitor
from bci_stream.service.stalls import StallHandling
from bci_stream.service.status_channel import StatusSender
from bci_stream.service.unsettled import resume_gaps
from bci_stream.service.flat_channels import FlatChannels
from bci_stream.service.stream_units import StreamUnits
from bci_stream.service.stamp_checks import StampChecks

__all__ = ["StreamSlot"]

log = logging.getLogger("bci_stream.worker")


class StreamSlot(StreamConnection, StallHandling, OwedMark):
    """One decoder's stream in a worker (see the module docstring).

    Parameters
    ----------
    decoder_id, generation, spec
        Who it is (the supervisor's id and restart generation) and what it decodes.
    models_dir
        The model registry.
    cmd_conn, status
        Its command pipe and its status sender.
    status_interval
        Seconds between periodic status snapshots.
    ring
        Its shared-memory output ring (HTTP readers), if any.
    recordings_dir
        Where ``record_path`` files go (None: recording refused).
    host
        The shared worker's state tables (None: the dedicated worker, a state of its own).
    load_model
        ``load_model(entry) -> StepModel`` (the shared worker's cache: one session per model file).
    """

    def __init__(self, decoder_id: str, generation: int, spec: DecoderSpec, models_dir: str, cmd_conn: Connection,
                 status: StatusSender, status_interval: float = 0.25, ring: RingHandles | None = None,
                 recordings_dir: str | None = None, host: StateHost | None = None,
                 load_model: Callable[[Any], StepModel] | None = None) -> None:
        self.decoder_id = decoder_id
        self.generation = generation
        self.spec = spec
        self.models_dir = models_dir
        self.host = host
        self.load_model = load_model or (lambda entry: StepModel(entry.onnx_path, entry.card))
        self.ring = OutputRing(ring) if ring is not None else None
        self.recordings_dir = recordings_dir
        self.recorder: Recorder | None = None
        self.markers: MarkerHub | None = None
        self.sender = status
        self.reporter = StatusReporter(decoder_id, generation, status, status_interval, self.event)
        self.status = self.reporter.status
        self.commands = CommandHandler(cmd_conn, self.reporter, models_dir, self.event, load_model=self.load_model)
        self.model: StepModel | None = None
        self.decoder: StreamDecoder | None = None
        self.monitor: SourceMonitor | None = None
        self.inlet: pylsl.StreamInlet | None = None
        self.puller: ChunkPuller | None = None
        self.outlet: DecodedOutlet | None = None
        self.prov_outlet: ProvenanceOutlet | None = None
        self.clock: ClockOffset | None = None
        self.full: pylsl.StreamInfo | None = None
        self.chan_idx: np.ndarray | None = None
        self.units: StreamUnits | None = None  # the units read in, an assumed unit's amplitude check and warning
        self.units_warned = False  # the last units_warning event recorded a warning (its end is recorded too)
        self.map_notice = MapWarningNotice(decoder_id)  # scoring.map_warning in the log and the recording
        self.load_window: LoadWindow | None = None
        self.divergence: DivergenceWatch | None = None  # NaN outputs said, a diverged state reset
        self.twins: OutletTwins | None = None  # other outlets of the decoded source_id (another service's)
        self.flat: FlatChannels | None = None  # model channels that stopped changing (once decoding)
        self.stamps_warned: str | None = None  # the timestamp repair's warning last logged
        self.stamp_checks: StampChecks | None = None  # the sender's measured rate and clock (once decoding)
        self.sfreq = 0.0
        self.budget = 0.0
        self.stall_after = 1.0
        self.last_data = 0.0
        self.resumed = False  # a restarted worker carried on from its ring's last row (seq, state_epoch + 1)
        self.owed_since: float | None = None  # a restart with no output before: what the last one accounted up to
        self.data_seen = False  # this generation saw input data (pulled, or waiting in a held inlet)
        self.owed_floor: float | None = None  # the ring's mark before this generation noted an estimate of its own
        self.lost_at_open = False  # the source went away between resolve and open_stream (stalled at attach)
        self._parent_pid = os.getppid()

    def event(self, kind: str, **fields: Any) -> None:
        """A service event, into the recording (if any)."""
        if self.recorder is not None:
            self.recorder.event(pylsl.local_clock(), kind, **fields)

    @property
    def stopping(self) -> bool:
        return self.commands.stop_requested

    def orphaned(self) -> bool:
        return os.getppid() != self._parent_pid

    # -- lifecycle -----------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the model: the decoder's own copy (:mod:`~bci_stream.service.model_pin`: what it was running, even
        when the registry's folder was replaced since), else the registry's (ModelError / ModelNotFoundError when
        refused; a model of other outputs than the output ring's is refused, never a crash loop)."""
        entry = pinned_model(self.decoder_id, self.models_dir, self.spec.model)
        if entry is None:  # not pinned (a worker started without a supervisor): the registry's now
            entry = ModelRegistry(self.models_dir).get(self.spec.model)
        if self.ring is not None and self.ring.n_outputs != entry.card.n_outputs:
            raise ModelError(f"model '{entry.card.ref}' (sha256 {entry.card.sha256}) has {entry.card.n_outputs} "
                             f"outputs, but decoder {self.decoder_id} was started with a model of "
                             f"{self.ring.n_outputs}: POST the decoder again to run it")
        self.model = self.load_model(entry)
        self.status.model = model_info(self.model) | describe_pin(entry, self.models_dir, self.spec.model)
        self.reporter.set_state("connecting")

    def attach(self, saved: SavedState | None = None) -> None:
        """The decoding state (in the host's table when shared), the restart gap, the state ``saved`` by the last
        generation (a shared or Ray worker's restart) restored, then ``running``: never reported before the restore
        (a status could say ``running`` with no ``worker.restored_seq`` yet)."""
        self.decoder = StreamDecoder(self.model, self.chan_idx, self.sfreq, self.spec.options, self.status.counters,
                                     self.event, self.host, name=f"decoder {self.decoder_id}")
        self.decoder.set_scale(self.units.scale)
        self.reporter.state_norms = lambda: self.decoder.state.norms()
        self.reporter.nonfinite = lambda: self.decoder.nonfinite.describe()
        self.divergence = DivergenceWatch(self.decoder, self.spec.options.divergence_policy, self.sfreq, self.event,
                                          self.decoder_id)
        self.reporter.outputs_nonfinite = self.divergence.describe
        self.flat = FlatChannels(self.sfreq, self.decoder.card.ch_names, self.flat_changed,
                                 f"decoder {self.decoder_id}")
        self.decoder.set_speed(speed := read_replay_speed(self.full) if self.full is not None else 1.0)
        self.stamp_checks = None if self.sfreq <= 0 else StampChecks(self.sfreq, speed)
        self.commands.decoder = self.decoder
        self.commands.source = self.full
        self.commands.units = self.units
        last = self.ring.last_timestamp() if self.ring is not None and self.generation > 1 else None
        self.resumed = last is not None
        if last is not None:  # a restarted worker: what went by since the last output is a gap, counted,
            resume_gaps(self.ring, self.decoder.gaps, self.clock.offset)  # (or since a suspected loss still judged)
            self.status.counters.state_epoch = self.ring.last_state_epoch() + 1  # the epoch too: a new state
        if self.ring is not None and self.generation > 1 and (reserved := self.ring.last_seq()) is not None:
            self.decoder.seq = reserved + 1  # seq carries on after every seq the last generation pushed or reserved
        self.last_data = pylsl.local_clock()
        self.load_window = window = LoadWindow(self.status.counters, self.reporter.hists, self.sfreq, self.last_data)
        self.reporter.load = SaturationWatch(window.describe, self.sfreq, self.spec.options.max_buffer_s, self.event,
                                             f"decoder {self.decoder_id}", self.host is not None,
                                             getattr(self.host, "worker_load", None)).describe
        if saved is not None and saved.sha256 == self.model.card.sha256:
            self.restore(saved)
        self.reporter.set_state("running")
        if self.lost_at_open:
            self.on_lost()  # stalled (lost): the source is looked for; decoding starts when it comes back

    def restore(self, saved: SavedState) -> None:
        """The state snapshot of the last generation, as of its input sample ``saved.seq``; one that does not fit is
        left out, with a warning (the stream starts fresh)."""
        try:
            # the restart already made the new epoch (the last published one + 1, in attach): not one more
            self.decoder.restore(saved.arrays, saved.sha256, count=not self.resumed, held=saved.held)
            self.status.worker["restored_seq"] = saved.seq
            self.event("restore", seq=saved.seq, reason="worker restart")
        except (ValueError, TypeError) as exc:  # a snapshot that does not fit: start fresh, say so
            log.warning("decoder %s: state snapshot not restored: %s", self.decoder_id, exc)

    def close(self) -> None:
        """The inlets first (no more input; they leave before their sources go), the outlets, the recording;
        a shared state slot goes back to its table; a loss still settling is counted."""
        if self.decoder is not None:
            self.settle_gaps()
        self.drop_held()
        self.cancel_reopen()
        if self.inlet is not None:
            if not self.data_seen:  # stopped (a reopen) before it pulled: data waiting in the inlet is owed too
                self.note_held_data()
            self.inlet.close_stream()
        self.inlet = self.puller = None  # freed now, not at a rare full collection (the slot sits in cycles)
        if self.monitor is not None:
            self.monitor.release()
        if self.markers is not None:
            self.markers.close()
        for obj in (self.outlet, self.prov_outlet):
            if obj is not None:
                obj.close()
        if self.twins is not None:  # its resolver's thread goes now (the reporter, in a cycle, refers to it)
            self.twins.close()
        self.outlet = self.prov_outlet = self.twins = None
        if self.decoder is not None and self.host is not None:
            self.host.release(self.decoder)
            self.host = self.decoder.host = None
        if self.recorder is not None:
            self.event("stopped", **{k: getattr(self.status.counters, k) for k in ("samples_in", "samples_out")})
            self.recorder.close()
            self.recorder = None

    # -- per wake-up -----------------------------------------------------------------------------------

    def process(self, x: np.ndarray, ts: np.ndarray, t_call: float, t0: float) -> None:
        """Decode and publish one pulled chunk alone (``x``: often a view of the reused pull buffer)."""
        self.inputs(x, ts)
        out = self.decoder.decode(x, ts)
        if out is None:  # every sample of the chunk was rejected
            return
        y, ts_kept, seq, t_dec, epochs = out
        self.publish(y, ts_kept, seq, t_dec, len(ts), t_call, t0, epochs=epochs)

    def inputs(self, x: np.ndarray, ts: np.ndarray) -> None:
        """A pulled chunk, before decoding: stamps the pull mended counted, into the recording, to the amplitude
        check of an assumed unit (its warning, its end: ``units_warning`` message null; ``stream.units``, log, file)."""
        if self.owed_since is not None and len(ts):
            self.count_owed(ts)
        if self.ring is not None and self.ring.head == 0 and len(ts) and self.clock is not None:  # none published
            self.note_owed_after(float(self.clock.mapped(ts[-1:])[0]))  # this chunk is accounted for from here on
        if (puller := self.puller) is not None and puller.last_filled:  # stamps that were no number, filled in
            self.status.counters.nonfinite_timestamps += puller.last_filled
        if puller is not None and (k := puller.last_restamped):  # stamps liblsl deduced from 0, placed back
            self.status.counters.deduced_timestamps += k
            log.warning("decoder %s: %s", self.decoder_id, restamped_message(k, self.sfreq))
            self.event("deduced_timestamps", count=k, total=self.status.counters.deduced_timestamps)
        if self.recorder is not None:
            self.recorder.inputs(x, ts)
        if (checks := self.stamp_checks) is not None and self.clock is not None and len(ts):
            for kind, why in checks.take(ts, self.clock):
                if why is not None:  # said once per change; its end as an event with message null
                    log.warning("decoder %s: %s", self.decoder_id, why)
                self.event(f"timestamps_{kind}", message=why)
        if (units := self.units) is not None and units.check is not None and units.feed(x):  # the check's verdict
            self.status.stream["units"] = units.describe()
            if (why := units.warning) is not None:
                log.warning("decoder %s: %s", self.decoder_id, why)
                self.event("units_warning", message=why)
        if self.units_warned and (units is None or units.warning is None):  # ended: a check's verdict, or a swap
            log.info("decoder %s: the units warning ended", self.decoder_id)
            self.event("units_warning", message=None)
        self.units_warned = units is not None and units.warning is not None

    def publish(self, y: np.ndarray, ts_kept: np.ndarray, seq: np.ndarray, t_dec: float, n_pulled: int,
                t_call: float, t0: float, worked_s: float | None = None, epochs: np.ndarray | None = None) -> None:
        """Push decoded ``y`` (one row per kept input sample, stamped with its input timestamp), then account.
        ``worked_s``: the time this stream's chunk took to stage and step when it was stepped in a batch with other
        streams (a shared worker), so its ``busy`` leaves out the wait for them; None: all of ``t0`` → now.
        ``epochs``: the state epoch of each row (a gap policy inside the chunk splits it); None: the current one."""
        ts_out = self.clock.mapped(ts_kept)
        if self.ring is not None:  # a loss counted is sent before these rows enter the ring (a restart counts from it)
            self.hand_over_losses(len(ts_out))  # then one still judged (service/unsettled.py)
        t2 = pylsl.local_clock()
        if self.ring is not None:  # before the push: a kill after it must not give these seq to the next generation
            self.ring.reserve(int(seq[-1]))
        self.outlet.push(y, ts_out)
        c = self.status.counters
        # one epoch for the chunk (the common case: no gap policy inside it; epochs never decrease) as a scalar
        epoch = c.state_epoch if epochs is None else int(epochs[0]) if epochs[0] == epochs[-1] else epochs
        t3 = pylsl.local_clock()
        # ring, provenance, accounting and fan-out after publishing, so they add nothing to this chunk's latency; the
        # ring first: a provenance batch sent marks the ring's head as sent (a restart sends what a kill left unsent)
        if self.ring is not None:
            self.ring.write(seq, ts_out, epoch, y)
        if self.prov_outlet is not None:
            self.prov_outlet.push(seq, epoch, ts_out)
        if self.recorder is not None:
            self.recorder.outputs(y, ts_out, seq, epoch)
        if self.markers is not None:
            self.markers.outputs(ts_out, y, epoch, seq)
        m = len(ts_out)
        c.samples_out += m
        self.divergence.outputs(y, seq)  # NaN/inf rows counted and said; a diverged state reset before the next chunk
        c.chunks += 1
        c.max_chunk = max(c.max_chunk, n_pulled)
        if t3 - t0 > (self.budget or m / self.sfreq):  # by default, as long as the chunk took to arrive
            c.deadline_misses += m
        hists = self.reporter.hists
        hists["pull"].observe(t0 - t_call)
        hists["decode"].observe(t_dec)
        hists["publish"].observe(t3 - t2)
        hists["service"].observe(t3 - t0)
        hists["e2e"].observe_many(t3 - ts_out)
        self.status.last_output = y[-1].tolist()
        self.status.last_timestamp = float(ts_out[-1])
        # the recent load: this chunk's work since its pull, and what arrived meanwhile (O(1), see liveness)
        done = pylsl.local_clock()
        worked = done - t0 if worked_s is None else worked_s + done - t2
        self.load_window.chunk(worked, self.inlet.samples_available() if self.inlet else 0, n_pulled)
        if (flat := self.flat) is not None and (decoder := self.decoder) is not None:
            if flat.names is not decoder.card.ch_names:  # a hot swap to a model of other channels
                self.flat = flat = FlatChannels(self.sfreq, decoder.card.ch_names, self.flat_changed, flat.name)
                self.flat_changed([])
            flat.feed(decoder.last_staged)

    def flat_changed(self, names: list[str]) -> None:
        """The model channels found flat changed: in ``stream.flat_channels`` and the recording."""
        if self.status.stream is not None and self.status.stream.get("flat_channels") != names:
            self.status.stream["flat_channels"] = names
            self.event("flat_channels", channels=names)

    def tick(self) -> None:
        """Periodic housekeeping outside the per-chunk path: provenance flush, clock offset, orphan check, status."""
        if self.prov_outlet is not None:
            self.prov_outlet.flush()
        self.update_clock(0.0)
        if self.divergence is not None:
            self.divergence.tick()
        if self.twins is not None:
            self.twins.tick(pylsl.local_clock())
        if self.decoder is not None:
            self.status.timestamps = stamps = self.decoder.stamps.describe()
            if self.stamp_checks is not None:
                stamps.update(self.stamp_checks.describe())
            if (why := stamps["warning"]) is not None and why != self.stamps_warned:  # chunks stamped once, long
                log.warning("decoder %s: %s", self.decoder_id, why)
                self.event("timestamps_warning", message=why)
            self.stamps_warned = why
        if self.markers is not None:
            self.markers.tick()
            self.status.markers, self.status.scoring = self.markers.describe()
            self.map_notice.update(self.status.scoring, self.event)
            self.status.markers["generation"] = self.generation  # a new one numbers its markers from 0 again
        if self.orphaned() and not self.stopping:  # (stopping: e.g. a SIGTERM to the process group ended it too)
            log.error("decoder %s: the supervisor process is gone; stopping", self.decoder_id)
            self.commands.stop_requested = True
        self.reporter.report()
