"""The decoder worker: one OS process per decoded stream, running ``pull → preprocess → decode → publish``.

The worker talks to the supervisor in the API process through a duplex pipe for commands (``stop``,
``reset``, ``swap``, ``get_state``, ``set_state``) that it polls between chunks and answers with
``(request_id, ok, payload)``, and its own status pipe on which a sender thread delivers the newest
status snapshot (taken every ``status_interval`` seconds and on every state change; see
:mod:`bci_stream.runtime.status_channel`). Decoded outputs also go into a shared-memory
ring (:mod:`bci_stream.publish.fanout`) for HTTP clients. Nothing it sends can block the hot loop.

Sample accounting: every pulled sample is either decoded and published (``samples_out``) or, with
``nan_policy="reject"``, rejected (``samples_rejected``); ``samples_in == samples_out +
samples_rejected`` after every chunk. Samples that never reached the worker (the source paused or
died, the inlet buffer overflowed) show as timestamp gaps and are estimated in ``samples_lost``.

Exit codes: 0 stopped on request; :data:`EXIT_REFUSED` the model or stream was refused, or the stream
was replaced by an incompatible one (the supervisor does not restart it); anything else is a crash
(the supervisor may restart it).
"""

from __future__ import annotations

import gc
import logging
import math
import os
import threading
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import pylsl
from pylsl.util import LostError

from bci_stream.errors import BciStreamError, ModelError, StreamMismatchError, StreamNotFoundError
from bci_stream.inference.registry import ModelEntry, ModelRegistry
from bci_stream.ingest.lsl_info import read_ch_names
from bci_stream.ingest.puller import PULL_MAX_SAMPLES, ChunkPuller
from bci_stream.ingest.source import NUMERIC_FORMATS, ClockOffset, build_predicate, check_stream, resolve_one
from bci_stream.publish.fanout import OutputRing, RingHandles
from bci_stream.publish.lsl_outlet import DecodedOutlet, ProvenanceOutlet
from bci_stream.publish.recorder import Recorder
from bci_stream.runtime.metrics import LatencyHistogram
from bci_stream.runtime.pipeline import DecodePipeline
from bci_stream.runtime.spec import DecoderSpec
from bci_stream.runtime.status_channel import StatusSender
from bci_stream.signal.preprocess import NonFiniteGuard

log = logging.getLogger("bci_stream.worker")

EXIT_REFUSED = 3
#: Latency stages: ``pull`` (time in ``pull_chunk``), ``decode`` (guard excluded: preprocessing + recurrent
#: step, one fused onnxruntime call per sample), ``publish`` (LSL pushes), ``service`` (from the end of the
#: pull to the end of the publish, per chunk), ``e2e`` (push time minus the input timestamp, per sample).
STAGES = ("pull", "decode", "publish", "service", "e2e")
RECONNECT_BACKOFF = (0.25, 4.0)  # first and largest interval between source checks while stalled, s
CMD_CHECK_INTERVAL_S = 0.005


@dataclass
class Counters:
    """Sample and event accounting (see the module docstring for the invariant)."""

    samples_in: int = 0
    samples_out: int = 0
    samples_rejected: int = 0
    samples_lost: int = 0
    chunks: int = 0
    max_chunk: int = 0
    gaps: int = 0
    gap_policy_applied: int = 0
    nonfinite_values: int = 0
    nonfinite_chunks: int = 0
    resets: int = 0
    swaps: int = 0
    state_epoch: int = 0
    deadline_misses: int = 0
    stalls: int = 0
    resumes: int = 0
    reconnects: int = 0
    backward_steps: int = 0  # timestamp steps < 0 (the sender's clock went back); those samples are decoded


@dataclass
class WorkerStatus:
    """What the worker reports; a plain dict of it crosses the process boundary."""

    state: str = "starting"
    error: str | None = None
    counters: Counters = field(default_factory=Counters)
    stream: dict[str, Any] | None = None
    output_stream: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    last_output: list[float] | None = None
    last_timestamp: float | None = None
    clock_offset: float = 0.0
    clock_estimate: float = 0.0
    clock_uncertainty: float | None = None
    record: dict[str, Any] | None = None


def model_info(entry: ModelEntry) -> dict[str, Any]:
    card = entry.card
    return {"name": card.name, "version": card.version, "sha256": card.sha256, "labels": card.output.labels,
            "kind": card.output.kind}


class DecoderWorker:
    """Runs one decoder until told to stop. See the module docstring for the protocol."""

    def __init__(
        self,
        decoder_id: str,
        generation: int,
        spec: DecoderSpec,
        models_dir: str,
        cmd_conn: Connection,
        status: StatusSender,
        status_interval: float = 0.25,
        ring: RingHandles | None = None,
        recordings_dir: str | None = None,
    ) -> None:
        self.decoder_id = decoder_id
        self.generation = generation
        self.spec = spec
        self.models_dir = models_dir
        self.cmd_conn = cmd_conn
        self.status_sender = status
        self.status_interval = status_interval
        self.ring = OutputRing(ring) if ring is not None else None
        self.recordings_dir = recordings_dir
        self.status = WorkerStatus()
        self.hists = {stage: LatencyHistogram() for stage in STAGES}
        self.recorder: Recorder | None = None
        self.inlet: pylsl.StreamInlet | None = None
        self.puller: ChunkPuller | None = None
        self.outlet: DecodedOutlet | None = None
        self.prov_outlet: ProvenanceOutlet | None = None
        self.watch: pylsl.ContinuousResolver | None = None
        self._stop = False
        self._parent_pid = os.getppid()
        self._next_report = 0.0
        self._pending_swap: tuple | None = None
        self._swap_thread: threading.Thread | None = None
        self._seq = 0
        self._last_ts: float | None = None

    # -- protocol ------------------------------------------------------------------------------------

    def report(self) -> None:
        """Hand a snapshot to the status sender (never blocks)."""
        s = self.status
        if self.recorder is not None:
            s.record = {"path": str(self.recorder.path), "bytes": self.recorder.bytes_written,
                        "error": self.recorder.error}
        snapshot = {
            "state": s.state,
            "error": s.error,
            "pid": os.getpid(),
            "counters": vars(s.counters).copy(),
            "stream": s.stream,
            "output_stream": s.output_stream,
            "model": s.model,
            "last_output": s.last_output,
            "last_timestamp": s.last_timestamp,
            "clock_offset": s.clock_offset,
            "clock_estimate": s.clock_estimate,
            "clock_uncertainty": s.clock_uncertainty,
            "record": s.record,
            "state_norms": self.pipe.norms() if hasattr(self, "pipe") else None,
            "hist": {k: h.to_dict() for k, h in self.hists.items()},
            "gc": {"collections": [g["collections"] for g in gc.get_stats()]},
            "t": pylsl.local_clock(),
        }
        self.status_sender.put((self.decoder_id, self.generation, snapshot))
        self._next_report = snapshot["t"] + self.status_interval

    def set_state(self, state: str, error: str | None = None) -> None:
        self.status.state = state
        if error is not None:
            self.status.error = error
            log.error("decoder %s: %s", self.decoder_id, error)
        self.event(state, **({"error": error} if error else {}))
        self.report()

    def event(self, kind: str, **fields: Any) -> None:
        """A service event, into the recording (if any)."""
        if self.recorder is not None:
            self.recorder.event(pylsl.local_clock(), kind, **fields)

    def reply(self, req_id: Any, ok: bool, payload: Any) -> None:
        try:
            self.cmd_conn.send((req_id, ok, payload))
        except (OSError, BrokenPipeError):
            self._stop = True

    def poll_commands(self) -> None:
        while self.cmd_conn.poll():
            try:
                cmd = self.cmd_conn.recv()
            except (EOFError, OSError):
                self._stop = True
                return
            self.handle_command(cmd)

    def handle_command(self, cmd: tuple) -> None:
        kind = cmd[0]
        if kind == "stop":
            self._stop = True
        elif kind == "reset":
            if hasattr(self, "pipe"):
                self.pipe.reset()
                self.status.counters.resets += 1
                self.status.counters.state_epoch += 1
                self.event("reset", seq=self._seq)
            if len(cmd) > 1:
                self.reply(cmd[1], True, {"state_epoch": self.status.counters.state_epoch})
        elif kind == "swap":
            self.start_swap(cmd[1], cmd[2])
        elif kind == "get_state":
            if not hasattr(self, "pipe"):
                self.reply(cmd[1], False, "the decoder has no state yet (it is not running)")
            else:
                snap = {k: v.tolist() for k, v in self.pipe.snapshot().items()}
                self.reply(cmd[1], True, {"model": self.status.model, "seq": self._seq,
                                          "state_epoch": self.status.counters.state_epoch, "arrays": snap})
        elif kind == "set_state":
            self.restore_state(cmd[1], cmd[2], cmd[3])
        else:
            log.warning("decoder %s: unknown command %r ignored", self.decoder_id, cmd)
            if len(cmd) > 1:
                self.reply(cmd[-1], False, f"unknown command {kind!r}")

    def restore_state(self, arrays: dict[str, list], sha256: str | None, req_id: Any) -> None:
        if not hasattr(self, "pipe"):
            self.reply(req_id, False, "the decoder has no state yet (it is not running)")
            return
        if sha256 is not None and sha256 != self.pipe.card.sha256:
            self.reply(req_id, False, f"model.sha256 must be that of the running model "
                                      f"({self.pipe.card.sha256}), got {sha256}")
            return
        try:
            self.pipe.restore({k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()})
        except (ValueError, TypeError) as exc:
            self.reply(req_id, False, str(exc))
            return
        self.status.counters.state_epoch += 1
        self.event("restore", seq=self._seq)
        self.reply(req_id, True, {"state_epoch": self.status.counters.state_epoch})

    def _orphaned(self) -> bool:
        return os.getppid() != self._parent_pid

    # -- lifecycle -----------------------------------------------------------------------------------

    def run(self) -> int:
        """Load, connect, decode until stopped. Returns the process exit code."""
        self.report()
        try:
            entry = ModelRegistry(self.models_dir).get(self.spec.model)
            self.pipe = DecodePipeline(entry)
            self.status.model = model_info(entry)
            self.set_state("connecting")
            info = self.resolve()
            if info is None:
                return self.stopped()
            self.connect(info)
            self.loop()
        except BciStreamError as exc:
            self.set_state("error", str(exc))
            return EXIT_REFUSED
        except Exception:  # a crash: report it with its traceback, exit non-zero so it can be restarted
            self.set_state("error", "worker crashed: " + traceback.format_exc(limit=8))
            return 1
        finally:
            self.close()
        return self.stopped()

    def close(self) -> None:
        for obj in (self.outlet, self.prov_outlet):
            if obj is not None:
                obj.close()
        self.outlet = self.prov_outlet = None
        if self.inlet is not None:
            self.inlet.close_stream()
        if self.recorder is not None:
            self.event("stopped", samples_in=self.status.counters.samples_in,
                       samples_out=self.status.counters.samples_out)
            self.recorder.close()

    def stopped(self) -> int:
        self.set_state("stopped")
        return 0

    def resolve(self) -> pylsl.StreamInfo | None:
        """Wait for the stream (up to ``resolve_timeout``, or until stopped)."""
        predicate = self.predicate()
        timeout = self.spec.options.resolve_timeout
        deadline = None if timeout is None else pylsl.local_clock() + timeout
        while not self._stop and not self._orphaned():
            try:
                return resolve_one(predicate, 0.5)
            except StreamNotFoundError:
                if deadline is not None and pylsl.local_clock() > deadline:
                    raise StreamNotFoundError(f"no LSL stream matched {predicate} within {timeout:g} s") from None
            self.poll_commands()
            if pylsl.local_clock() >= self._next_report:
                self.report()
        return None

    def predicate(self) -> str:
        sel = self.spec.stream
        return build_predicate(sel.name, sel.type, sel.source_id, sel.hostname)

    def open_inlet(self, info: pylsl.StreamInfo) -> pylsl.StreamInfo:
        """A new inlet on ``info`` (recovering silently when the same source_id comes back); its full info."""
        opts = self.spec.options
        self.inlet = pylsl.StreamInlet(info, max_buflen=max(1, math.ceil(opts.max_buffer_s)), recover=True)
        return self.inlet.info(timeout=10.0)

    def connect(self, info: pylsl.StreamInfo) -> None:
        """Validate the stream against the card, open the inlet, the outlets and the recorder."""
        card = self.pipe.card
        opts = self.spec.options
        self.sfreq = info.nominal_srate()
        full = self.open_inlet(info)
        # the full info: a resolved one lacks the channel labels (desc), so it was mapped by position only
        self.chan_idx = check_stream(full, card)
        self.source = full
        # Everything slow happens before the data stream opens, so no sample waits for it:
        # the first clock-offset estimate (~0.5 s), the outlets, and a warm-up of the ONNX session.
        self.clock = ClockOffset.for_stream(full, opts.time_correction)
        self.update_clock(2.0)
        self.outlet = DecodedOutlet(full, card)
        self.prov_outlet = ProvenanceOutlet(self.outlet, self.sfreq) if opts.provenance else None
        self.pipe.warm_up()
        n_stream = full.channel_count()
        fmt = NUMERIC_FORMATS[full.channel_format()]
        self.puller = ChunkPuller(self.inlet, PULL_MAX_SAMPLES)
        self.guard = NonFiniteGuard(card.n_chans, "zero" if opts.nan_policy == "reject" else opts.nan_policy)
        self.budget = (opts.latency_budget_ms / 1e3) if opts.latency_budget_ms else 1.0 / self.sfreq
        self.stall_after = opts.stall_timeout_s or max(1.0, 20.0 / self.sfreq)
        ch_names = read_ch_names(full)
        self._seen_uids = {full.uid()}
        self.status.stream = {
            "name": full.name(), "type": full.type(), "source_id": full.source_id(),
            "hostname": full.hostname(), "uid": full.uid(), "n_chans": n_stream, "sfreq": self.sfreq,
            "channel_format": fmt, "ch_names": ch_names,
            "channel_map": None if self.chan_idx is None else self.chan_idx.tolist(),
        }
        self.status.output_stream = {
            "name": self.outlet.name, "type": "Decoded", "source_id": self.outlet.source_id,
            "provenance": None if self.prov_outlet is None else self.prov_outlet.name,
        }
        if opts.record_path is not None:
            self.start_recorder(full, ch_names or [f"ch{i + 1}" for i in range(n_stream)], fmt)
        last = self.ring.last_timestamp() if self.ring is not None and self.generation > 1 else None
        if last is not None:  # a restarted worker: what went by since the last output is a gap, counted,
            self._last_ts = last - self.clock.offset
            self._seq = self.ring.last_seq() + 1  # and seq carries on from the last published sample
        self.inlet.open_stream(timeout=10.0)
        self.set_state("running")

    def start_recorder(self, full: pylsl.StreamInfo, ch_names: list[str], fmt: str) -> None:
        if self.recordings_dir is None:
            raise StreamMismatchError("record_path was given but the service has no recordings_dir")
        path = Path(self.recordings_dir) / self.spec.options.record_path
        if self.generation > 1:  # a restarted worker never overwrites the first generation's file
            path = path.with_name(f"{path.stem}.{self.generation}{path.suffix}")
        try:
            self.recorder = Recorder(
                path,
                {"name": full.name(), "type": full.type(), "ch_names": ch_names, "sfreq": self.sfreq,
                 "channel_format": fmt, "source_id": full.source_id()},
                {"name": self.outlet.name, "labels": self.pipe.card.output.labels, "sfreq": self.sfreq,
                 "source_id": self.outlet.source_id, "model": self.status.model},
            )
        except OSError as exc:
            raise StreamMismatchError(f"record_path {self.spec.options.record_path!r}: {exc}") from None
        self.recorder.clock_offset(pylsl.local_clock(), self.clock.offset)
        self.event("start", decoder_id=self.decoder_id, generation=self.generation, model=self.status.model)

    def update_clock(self, timeout: float) -> None:
        if self.inlet is None:
            return
        before = self.clock.offset
        self.status.clock_offset = self.clock.update(self.inlet, timeout)
        self.status.clock_estimate = self.clock.estimate
        self.status.clock_uncertainty = None if math.isnan(self.clock.uncertainty) else self.clock.uncertainty
        if self.recorder is not None and self.clock.offset != before:
            self.recorder.clock_offset(pylsl.local_clock(), self.clock.offset)

    # -- the hot loop --------------------------------------------------------------------------------

    def loop(self) -> None:
        """All samples available at each wake-up go through one decoder call."""
        last_data = pylsl.local_clock()
        next_cmd_check = 0.0
        while not self._stop:
            now = pylsl.local_clock()
            if now >= next_cmd_check:  # poll() is a system call: look for commands every 5 ms, not every chunk
                next_cmd_check = now + CMD_CHECK_INTERVAL_S
                if self.cmd_conn.poll():
                    self.poll_commands()
                    if self._stop:
                        break
                    now = pylsl.local_clock()
            if self._pending_swap is not None:
                self.finish_swap()
                now = pylsl.local_clock()
            if self.inlet is None:  # lost without recovery: wait for the source to come back
                self.check_source(pylsl.local_clock())
                self.cmd_conn.poll(0.05)
                if pylsl.local_clock() >= self._next_report:
                    self.tick()
                continue
            t_call = now
            try:
                x, ts = self.puller.pull(0.05)
            except LostError:
                self.on_lost()
                continue
            t0 = pylsl.local_clock()
            if len(ts) == 0:
                if self.status.state == "running" and t0 - last_data > self.stall_after:
                    self.on_stall(t0 - last_data)
                if self.status.state == "stalled":
                    self.check_source(t0)
                if t0 >= self._next_report:
                    self.tick()
                continue
            last_data = t0
            if self.status.state == "stalled":
                self.on_resume(float(ts[0]))
            self.process(x, ts, t_call, t0)
            if pylsl.local_clock() >= self._next_report:
                self.tick()

    def process(self, x: np.ndarray, ts: np.ndarray, t_call: float, t0: float) -> None:
        """Decode and publish one pulled chunk (``x`` is a view of the reused pull buffer)."""
        c = self.status.counters
        n = len(ts)
        raw = x
        if self.chan_idx is not None:
            x = x[:, self.chan_idx]
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        seq = np.arange(self._seq, self._seq + n)
        self._seq += n
        c.samples_in += n
        if self.recorder is not None:
            self.recorder.inputs(raw, ts)
        segments = self.split_at_gaps(ts)  # on every pulled sample: rejected samples arrived, they are not lost
        if self.spec.options.nan_policy == "reject":
            ok = np.isfinite(x).all(axis=1)
            if not ok.all():
                c.samples_rejected += int(n - ok.sum())
                c.nonfinite_values += int((~np.isfinite(x)).sum())
                c.nonfinite_chunks += 1
                kept = np.r_[0, np.cumsum(ok)]  # segment bounds among the kept samples
                segments = [(int(kept[lo]), int(kept[hi]), gap) for lo, hi, gap in segments]
                x, ts, seq = x[ok], ts[ok], seq[ok]
        h_dec, h_pub = self.hists["decode"], self.hists["publish"]
        t_dec = 0.0
        ts_out = ts + self.clock.offset
        ys = []
        for lo, hi, gap in segments:
            if gap is not None:
                self.apply_gap_policy(gap)
            if hi == lo:  # every sample after this gap was rejected
                continue
            seg = self.guard.apply(x[lo:hi])
            ta = pylsl.local_clock()
            ys.append(self.pipe.run(seg))
            t_dec += pylsl.local_clock() - ta
        if not ys:  # every sample of the chunk was rejected
            return
        y = ys[0] if len(ys) == 1 else np.concatenate(ys)
        t2 = pylsl.local_clock()
        self.outlet.push(y, ts_out)
        epoch = c.state_epoch
        t3 = pylsl.local_clock()
        # provenance, accounting and fan-out after publishing, so they add nothing to this chunk's latency
        if self.prov_outlet is not None:
            self.prov_outlet.push(seq, epoch, ts_out)
        if self.ring is not None:
            self.ring.write(seq, ts_out, epoch, y)
        if self.recorder is not None:
            self.recorder.outputs(y, ts_out, seq, epoch)
        m = len(ts)
        c.samples_out += m
        c.chunks += 1
        c.max_chunk = max(c.max_chunk, n)
        if self.spec.options.nan_policy != "reject":
            c.nonfinite_values = self.guard.n_replaced
            c.nonfinite_chunks = self.guard.n_chunks_affected
        if t3 - t0 > self.budget:
            c.deadline_misses += m
        self.hists["pull"].observe(t0 - t_call)
        h_dec.observe(t_dec)
        h_pub.observe(t3 - t2)
        self.hists["service"].observe(t3 - t0)
        self.hists["e2e"].observe_many(t3 - ts_out)
        self.status.last_output = y[-1].tolist()
        self.status.last_timestamp = float(ts_out[-1])

    def split_at_gaps(self, ts: np.ndarray) -> list[tuple[int, int, float | None]]:
        """Count timestamp gaps (> 1.5 sample periods) and estimate the samples lost in them; return the
        chunk's segments ``(lo, hi, gap_s)`` where ``gap_s`` is set when a gap longer than
        ``gap_threshold_s`` precedes the segment (its state policy is applied before it)."""
        c = self.status.counters
        prev = self._last_ts
        self._last_ts = float(ts[-1])
        gap_limit = 1.5 / self.sfreq
        if len(ts) == 1:  # the per-sample case in plain floats (numpy's per-call cost is most of it)
            step = 0.0 if prev is None else self._last_ts - prev
            if 0.0 <= step <= gap_limit:
                return [(0, 1, None)]
        steps = np.diff(ts, prepend=ts[0] if prev is None else prev)
        if steps.min() < 0:  # timestamps went back: decoded in arrival order as usual, counted, never a gap
            c.backward_steps += int((steps < 0).sum())
        big = np.flatnonzero(steps > gap_limit)
        if len(big) == 0:
            return [(0, len(ts), None)]
        c.gaps += len(big)
        c.samples_lost += int(np.maximum(np.rint(steps[big] * self.sfreq) - 1, 0).sum())
        threshold = self.spec.options.gap_threshold_s
        cuts = [int(i) for i in big if steps[i] > threshold]
        if not cuts:
            return [(0, len(ts), None)]
        bounds = ([0] if cuts[0] != 0 else []) + cuts + [len(ts)]
        segments = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            segments.append((lo, hi, float(steps[lo]) if lo in cuts else None))
        return segments

    def apply_gap_policy(self, gap_s: float) -> None:
        policy = self.spec.options.gap_policy
        self.event("gap", seconds=gap_s, policy=policy, seq=self._seq)
        if policy == "keep":
            return
        c = self.status.counters
        if policy == "reset":
            self.pipe.reset()
        else:
            self.pipe.decay(math.exp(-gap_s / self.spec.options.decay_tau_s))
        c.gap_policy_applied += 1
        c.state_epoch += 1

    # -- stalls, loss, reconnection ------------------------------------------------------------------

    def on_stall(self, silent_s: float) -> None:
        self.status.counters.stalls += 1
        self.status.state = "stalled"
        self.status.error = f"no data for {silent_s:.2f} s (stall_timeout_s={self.stall_after:g})"
        self.event("stall", seconds=silent_s)
        self.watch = pylsl.ContinuousResolver(pred=self.predicate(), forget_after=2.0)
        self._backoff = RECONNECT_BACKOFF[0]
        self._next_check = pylsl.local_clock() + self._backoff
        self.report()

    def on_resume(self, first_ts: float) -> None:
        c = self.status.counters
        c.resumes += 1
        if self.watch is not None:
            self.note_instance([i for i in self.watch.results() if self.same_source(i)])
        self.watch = None
        self.status.state = "running"
        self.status.error = None
        self.event("resume", first_timestamp=first_ts)
        self.update_clock(0.0)
        self.report()

    def on_lost(self) -> None:
        """The source is gone and liblsl cannot recover it (no source_id): re-resolve it ourselves."""
        log.warning("decoder %s: stream lost; waiting for it to come back", self.decoder_id)
        self.inlet.close_stream()
        self.inlet = None
        if self.status.state != "stalled":
            self.on_stall(0.0)
        self.status.error = "stream lost; waiting for the same source to come back"

    def same_source(self, info: pylsl.StreamInfo) -> bool:
        src = self.source
        if src.source_id():
            return info.source_id() == src.source_id()
        return (info.name(), info.type(), info.hostname()) == (src.name(), src.type(), src.hostname())

    def check_source(self, now: float) -> None:
        """While stalled: look at what matches the selector (bounded exponential backoff between looks).

        The same source with the same shape → wait for liblsl to resume it (or reopen the inlet if
        it was lost); the same source with another channel count, rate or format, or only other
        streams matching the selector → a clear error (the worker ends; the service stays up).
        """
        if self.watch is None or now < self._next_check:
            return
        self._backoff = min(self._backoff * 2, RECONNECT_BACKOFF[1])
        self._next_check = now + self._backoff
        found = self.watch.results()
        mine = [i for i in found if self.same_source(i)]
        src = self.source
        shape = (src.channel_count(), src.nominal_srate(), src.channel_format())
        for info in mine:
            got = (info.channel_count(), info.nominal_srate(), info.channel_format())
            if got != shape:
                raise StreamMismatchError(
                    f"stream {src.name()!r} (source_id {src.source_id()!r}) came back with n_chans={got[0]}, "
                    f"sfreq={got[1]:g}, format={NUMERIC_FORMATS.get(got[2], got[2])}; it was n_chans={shape[0]}, "
                    f"sfreq={shape[1]:g}, format={NUMERIC_FORMATS[shape[2]]}. Refusing to decode it with the same "
                    "state; start a new decoder"
                )
        if not mine and found:
            other = found[0]
            raise StreamMismatchError(
                f"stream {src.name()!r} (source_id {src.source_id()!r}) is gone and another stream matches the "
                f"selector: {other.name()!r} (source_id {other.source_id()!r}, host {other.hostname()!r}). "
                "Refusing to switch sources silently; start a new decoder for it"
            )
        if mine and self.inlet is None:
            self.open_inlet(mine[0])
            self.puller = ChunkPuller(self.inlet, PULL_MAX_SAMPLES)
            self.inlet.open_stream(timeout=10.0)
        self.note_instance(mine)

    def note_instance(self, mine: list[pylsl.StreamInfo]) -> None:
        """Count a reconnection when the source is back as a new outlet instance (a new LSL uid)."""
        new = [i for i in mine if i.uid() not in self._seen_uids]
        if new:
            self._seen_uids.update(i.uid() for i in new)
            self.status.stream["uid"] = new[0].uid()
            self.status.counters.reconnects += 1
            self.event("reconnect", uid=new[0].uid())

    # -- hot swap ------------------------------------------------------------------------------------

    def start_swap(self, ref: str, req_id: Any) -> None:
        """Load and warm the new model in a thread; :meth:`finish_swap` switches between two chunks."""
        if self._swap_thread is not None and self._swap_thread.is_alive():
            self.reply(req_id, False, "a model swap is already in progress")
            return
        if not hasattr(self, "source"):
            self.reply(req_id, False, "the decoder is not connected to its stream yet; retry when running")
            return

        def load() -> None:
            try:
                entry = ModelRegistry(self.models_dir).get(ref)
                card, old = entry.card, self.pipe.card
                chan_idx = check_stream(self.source, card)
                if card.output.labels != old.output.labels or card.output.kind != old.output.kind:
                    raise ModelError(
                        f"model '{card.ref}' outputs {card.output.kind} {card.output.labels}; the running "
                        f"decoder publishes {old.output.kind} {old.output.labels}. A hot swap keeps the output "
                        "stream, so outputs must match; start a new decoder instead"
                    )
                pipe = DecodePipeline(entry)
                pipe.warm_up()
                self._pending_swap = (entry, pipe, chan_idx, req_id, None)
            except BciStreamError as exc:
                self._pending_swap = (None, None, None, req_id, str(exc))
            except Exception as exc:  # noqa: BLE001 - report anything, never kill the decoder
                self._pending_swap = (None, None, None, req_id, f"cannot load model {ref!r}: {exc}")

        self._swap_thread = threading.Thread(target=load, name="bci-stream-swap", daemon=True)
        self._swap_thread.start()

    def finish_swap(self) -> None:
        entry, pipe, chan_idx, req_id, error = self._pending_swap
        self._pending_swap = None
        if error is not None:
            self.event("swap_refused", error=error)
            self.reply(req_id, False, error)
            return
        old = self.pipe
        same_input = (chan_idx is None and self.chan_idx is None) or (
            chan_idx is not None and self.chan_idx is not None and np.array_equal(chan_idx, self.chan_idx))
        if pipe.card.preprocessing == old.card.preprocessing and same_input:
            pipe.take_filter_state(old.filter_state())  # no filter transient at the switch
        self.pipe, self.chan_idx = pipe, chan_idx
        c = self.status.counters
        c.swaps += 1
        c.state_epoch += 1
        before = self.status.model
        self.status.model = model_info(entry)
        self.status.stream["channel_map"] = None if chan_idx is None else chan_idx.tolist()
        self.event("swap", previous=before, model=self.status.model, seq=self._seq)
        self.reply(req_id, True, {"model": self.status.model, "seq": self._seq, "state_epoch": c.state_epoch})
        self.report()

    def tick(self) -> None:
        """Periodic housekeeping outside the per-chunk path: clock offset, orphan check, status."""
        if self.prov_outlet is not None:
            self.prov_outlet.flush()
        self.update_clock(0.0)
        if self._orphaned():
            log.error("decoder %s: the supervisor process is gone; stopping", self.decoder_id)
            self._stop = True
        self.report()


def worker_main(
    decoder_id: str,
    generation: int,
    spec_json: str,
    models_dir: str,
    cmd_conn: Connection,
    status_conn: Connection,
    status_interval: float,
    ring: RingHandles | None = None,
    recordings_dir: str | None = None,
) -> None:
    """Process entry point (``multiprocessing`` spawn target)."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s decoder[{decoder_id}] %(levelname)s %(message)s")
    spec = DecoderSpec.model_validate_json(spec_json)
    sender = StatusSender(status_conn)
    worker = DecoderWorker(decoder_id, generation, spec, models_dir, cmd_conn, sender, status_interval,
                           ring, recordings_dir)
    code = worker.run()
    sender.close()
    raise SystemExit(code)
