"""The decoder worker: one OS process per decoded stream, running ``pull → preprocess → decode → publish``.

The worker talks to the supervisor in the API process through two channels: a pipe for commands
(``stop``, ``reset``) that it polls between chunks, and a shared queue on which it puts a status
snapshot every ``status_interval`` seconds and on every state change. Nothing it sends can block the
hot loop (``multiprocessing.Queue.put`` hands the message to a feeder thread).

Exit codes: 0 stopped on request; :data:`EXIT_REFUSED` the model or stream was refused (the
supervisor does not restart it); anything else is a crash (the supervisor may restart it).
"""

from __future__ import annotations

import logging
import math
import os
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import pylsl

from bci_stream.errors import BciStreamError, StreamNotFoundError
from bci_stream.inference.decoder import Decoder
from bci_stream.inference.registry import ModelEntry, ModelRegistry
from bci_stream.ingest.lsl_info import read_ch_names
from bci_stream.ingest.source import NUMERIC_FORMATS, ClockOffset, build_predicate, check_stream, resolve_one
from bci_stream.publish.lsl_outlet import DecodedOutlet
from bci_stream.runtime.metrics import LatencyHistogram
from bci_stream.runtime.spec import DecoderSpec
from bci_stream.signal.preprocess import NonFiniteGuard, Preprocessor

log = logging.getLogger("bci_stream.worker")

EXIT_REFUSED = 3
NP_DTYPES = {"float32": np.float32, "double64": np.float64, "int32": np.int32, "int16": np.int16, "int8": np.int8}
STAGES = ("pull", "preprocess", "decode", "publish", "service", "e2e")


@dataclass
class Counters:
    """Sample accounting. ``samples_in == samples_out`` always holds after each chunk: the pipeline never
    drops a sample it received; samples that never reached it (source gaps, inlet overflow) are
    estimated from timestamp gaps in ``gap_samples``."""

    samples_in: int = 0
    samples_out: int = 0
    chunks: int = 0
    max_chunk: int = 0
    gaps: int = 0
    gap_samples: int = 0
    nonfinite_values: int = 0
    nonfinite_chunks: int = 0
    resets: int = 0
    deadline_misses: int = 0
    stalls: int = 0


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


class DecoderWorker:
    """Runs one decoder until told to stop. See the module docstring for the protocol."""

    def __init__(
        self,
        decoder_id: str,
        generation: int,
        spec: DecoderSpec,
        models_dir: str,
        cmd_conn: Connection,
        status_queue: Any,
        status_interval: float = 0.25,
    ) -> None:
        self.decoder_id = decoder_id
        self.generation = generation
        self.spec = spec
        self.models_dir = models_dir
        self.cmd_conn = cmd_conn
        self.status_queue = status_queue
        self.status_interval = status_interval
        self.status = WorkerStatus()
        self.hists = {stage: LatencyHistogram() for stage in STAGES}
        self._stop = False
        self._parent_pid = os.getppid()
        self._next_report = 0.0

    # -- protocol ------------------------------------------------------------------------------------

    def report(self) -> None:
        """Put a snapshot on the status queue (never blocks)."""
        s = self.status
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
            "hist": {k: h.to_dict() for k, h in self.hists.items()},
            "t": pylsl.local_clock(),
        }
        self.status_queue.put((self.decoder_id, self.generation, snapshot))
        self._next_report = snapshot["t"] + self.status_interval

    def set_state(self, state: str, error: str | None = None) -> None:
        self.status.state = state
        if error is not None:
            self.status.error = error
            log.error("decoder %s: %s", self.decoder_id, error)
        self.report()

    def poll_commands(self) -> None:
        while self.cmd_conn.poll():
            try:
                cmd = self.cmd_conn.recv()
            except (EOFError, OSError):
                self._stop = True
                return
            self.handle_command(cmd)

    def handle_command(self, cmd: tuple) -> None:
        if cmd[0] == "stop":
            self._stop = True
        elif cmd[0] == "reset" and hasattr(self, "rnn_state"):
            self.rnn_state.reset()
            self.status.counters.resets += 1
        else:
            log.warning("decoder %s: unknown command %r ignored", self.decoder_id, cmd)

    def _orphaned(self) -> bool:
        return os.getppid() != self._parent_pid

    # -- lifecycle -----------------------------------------------------------------------------------

    def run(self) -> int:
        """Load, connect, decode until stopped. Returns the process exit code."""
        self.report()
        try:
            entry = ModelRegistry(self.models_dir).get(self.spec.model)
            self.decoder = Decoder(entry.onnx_path, entry.card)
            self.status.model = {"name": entry.card.name, "version": entry.card.version,
                                 "sha256": entry.card.sha256, "labels": entry.card.output.labels}
            self.set_state("connecting")
            info = self.resolve()
            if info is None:
                return self.stopped()
            self.connect(info, entry)
        except BciStreamError as exc:
            self.set_state("error", str(exc))
            return EXIT_REFUSED
        try:
            self.loop()
        except Exception:  # a crash: report it with its traceback, exit non-zero so it can be restarted
            self.set_state("error", "worker crashed: " + traceback.format_exc(limit=8))
            return 1
        finally:
            self.outlet.close()
            self.inlet.close_stream()
        return self.stopped()

    def stopped(self) -> int:
        self.set_state("stopped")
        return 0

    def resolve(self) -> pylsl.StreamInfo | None:
        """Wait for the stream (up to ``resolve_timeout``, or until stopped)."""
        sel = self.spec.stream
        predicate = build_predicate(sel.name, sel.type, sel.source_id, sel.hostname)
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

    def connect(self, info: pylsl.StreamInfo, entry: ModelEntry) -> None:
        """Validate the stream against the card, open the inlet and the decoded outlet."""
        card = entry.card
        self.chan_idx = check_stream(info, card)
        opts = self.spec.options
        self.sfreq = info.nominal_srate()
        self.inlet = pylsl.StreamInlet(info, max_buflen=max(1, math.ceil(opts.max_buffer_s)), recover=True)
        full = self.inlet.info(timeout=10.0)
        # Everything slow happens before the data stream opens, so no sample waits for it:
        # the first clock-offset estimate (~0.5 s), the outlet, and a warm-up of the ONNX session.
        self.clock = ClockOffset.for_stream(full, opts.time_correction)
        self.status.clock_offset = self.clock.update(self.inlet, 2.0)
        self.status.clock_estimate = self.clock.estimate
        self.outlet = DecodedOutlet(full, card)
        for t in (1, 16):
            self.decoder.run(np.zeros((t, card.n_chans), dtype=np.float32), self.decoder.new_state())
        n_stream = full.channel_count()
        self.max_chunk = max(1, math.ceil(self.sfreq * opts.max_buffer_s)) + 1
        self.buf = np.empty((self.max_chunk, n_stream), dtype=NP_DTYPES[NUMERIC_FORMATS[full.channel_format()]])
        self.guard = NonFiniteGuard(card.n_chans, opts.nan_policy)
        self.pre = Preprocessor(card.preprocessing, card.n_chans, card.sfreq)
        self.rnn_state = self.decoder.new_state()
        self.budget = (opts.latency_budget_ms / 1e3) if opts.latency_budget_ms else 1.0 / self.sfreq
        self.stall_after = max(1.0, 20.0 / self.sfreq)
        self.status.stream = {
            "name": full.name(), "type": full.type(), "source_id": full.source_id(),
            "hostname": full.hostname(), "n_chans": n_stream, "sfreq": self.sfreq,
            "ch_names": read_ch_names(full), "channel_map": None if self.chan_idx is None else self.chan_idx.tolist(),
        }
        self.status.output_stream = {"name": self.outlet.name, "type": "Decoded", "source_id": self.outlet.source_id}
        self.inlet.open_stream(timeout=10.0)
        self.set_state("running")

    def loop(self) -> None:
        """The hot loop. All samples available at each wake-up go through one decoder call."""
        c = self.status.counters
        h_pull, h_pre, h_dec, h_pub, h_svc, h_e2e = (self.hists[s] for s in STAGES)
        gap_limit = 1.5 / self.sfreq
        last_ts: float | None = None
        last_data = pylsl.local_clock()
        while not self._stop:
            if self.cmd_conn.poll():
                self.poll_commands()
                if self._stop:
                    break
            t_call = pylsl.local_clock()
            x, ts = self.inlet.pull_chunk(
                timeout=0.05, max_samples=self.max_chunk, dest_obj=self.buf, min_samples=1, as_numpy=True
            )
            t0 = pylsl.local_clock()
            n = len(ts)
            if n == 0:
                if t0 - last_data > self.stall_after and self.status.state == "running":
                    c.stalls += 1
                    self.set_state("stalled")
                if t0 >= self._next_report:
                    self.tick()
                continue
            last_data = t0
            if self.status.state == "stalled":
                self.status.state = "running"
            if self.chan_idx is not None:
                x = x[:, self.chan_idx]
            if x.dtype != np.float32:
                x = x.astype(np.float32)
            x = self.guard.apply(x)
            z = self.pre.process(x)
            t1 = pylsl.local_clock()
            y = self.decoder.run(z, self.rnn_state)
            t2 = pylsl.local_clock()
            ts_out = ts + self.clock.offset
            self.outlet.push(y, ts_out)
            t3 = pylsl.local_clock()
            # accounting (after publishing, so it adds nothing to this chunk's latency)
            c.samples_in += n
            c.samples_out += n
            c.chunks += 1
            c.max_chunk = max(c.max_chunk, n)
            if last_ts is not None and ts[0] - last_ts > gap_limit:
                c.gaps += 1
                c.gap_samples += max(0, round((ts[0] - last_ts) * self.sfreq) - 1)
            if n > 1:
                steps = np.diff(ts)
                big = steps > gap_limit
                if big.any():
                    c.gaps += int(big.sum())
                    c.gap_samples += int(np.maximum(np.rint(steps[big] * self.sfreq) - 1, 0).sum())
            last_ts = float(ts[-1])
            c.nonfinite_values = self.guard.n_replaced
            c.nonfinite_chunks = self.guard.n_chunks_affected
            if t3 - t0 > self.budget:
                c.deadline_misses += n
            h_pull.observe(t0 - t_call)
            h_pre.observe(t1 - t0)
            h_dec.observe(t2 - t1)
            h_pub.observe(t3 - t2)
            h_svc.observe(t3 - t0)
            h_e2e.observe_many(t3 - ts_out)
            self.status.last_output = y[-1].tolist()
            self.status.last_timestamp = float(ts_out[-1])
            if t3 >= self._next_report:
                self.tick()

    def tick(self) -> None:
        """Periodic housekeeping outside the per-chunk path: clock offset, orphan check, status."""
        self.status.clock_offset = self.clock.update(self.inlet, 0.0)
        self.status.clock_estimate = self.clock.estimate
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
    status_queue: Any,
    status_interval: float,
) -> None:
    """Process entry point (``multiprocessing`` spawn target)."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s decoder[{decoder_id}] %(levelname)s %(message)s")
    spec = DecoderSpec.model_validate_json(spec_json)
    worker = DecoderWorker(decoder_id, generation, spec, models_dir, cmd_conn, status_queue, status_interval)
    code = worker.run()
    status_queue.close()
    status_queue.join_thread()
    raise SystemExit(code)
