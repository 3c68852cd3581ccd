"""The dedicated decoder worker: one OS process for one decoded stream, running ``pull → step → publish``.

The stream's parts (inlet, decoder, outlets, ring, recorder, markers, commands, status) are one
:class:`~bci_stream.service.stream_slot.StreamSlot`; this module holds the process's lifecycle and the hot
loop that drives it: a blocking pull with a timeout (the lowest latency for one stream: the process wakes up
when a sample arrives), the per-sample single-session path of ``StepModel.run``, commands looked for every
few milliseconds. The shared worker (:mod:`bci_stream.service.shared_worker`) drives many slots instead.

Exit codes: 0 stopped on request; :data:`EXIT_REFUSED` the model or stream was refused, or the stream was
replaced by an incompatible one, or the code on disk is not the service's (the supervisor does not restart it);
:data:`EXIT_UNAVAILABLE` the model could not be loaded now for lack of memory or file descriptors; anything else is a
crash (the supervisor may restart both). The process starts in
:func:`~bci_stream.service.worker_entry.worker_main`, which compares the code stamp before this module is imported.
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

import pylsl
from pylsl.util import LostError

from bci_stream.core.errors import BciStreamError, ModelUnavailableError, SourceUnavailableError
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.pool_messages import SavedState
from bci_stream.service.reporter import StatusReporter
from bci_stream.service.ring import RingHandles
from bci_stream.service.status_channel import StatusSender
from bci_stream.service.term_signal import end_if_terminated, stop_on_sigterm
from bci_stream.service.stream_slot import StreamSlot
from bci_stream.service.worker_entry import EXIT_REFUSED, EXIT_UNAVAILABLE, RESTARTED
from bci_stream.core.log_setup import configure_worker

log = logging.getLogger("bci_stream.worker")

CMD_CHECK_INTERVAL_S = 0.005
#: how long a failed worker's clean-up (and exit) may take before it exits without it, seconds
CLEANUP_LIMIT_S = 10.0


class DecoderWorker(StreamSlot):
    """Runs one decoder until told to stop (see the module docstring); its slot is itself."""

    cleanup_limit_s = CLEANUP_LIMIT_S
    #: the state the last generation saved (a restart), restored at attach
    restore_from: SavedState | None = None
    #: when the next state snapshot goes to the supervisor (``options.snapshot_interval_s``; local clock)
    next_snapshot = 0.0

    def run(self) -> int:
        """Load, connect, decode until stopped. Returns the process exit code."""
        self.status.worker = {"kind": "dedicated", "index": None, "pid": self.status.pid}
        self.reporter.report()
        stuck: threading.Timer | None = None
        try:
            self.load()
            info = self.resolve()
            if info is None:
                return self.stopped()
            self.connect(info)
            self.attach(self.restore_from)
            self.next_snapshot = pylsl.local_clock() + self.spec.options.snapshot_interval_s
            self.loop()
        except Exception as exc:  # a refusal (not restarted); a crash or a condition of the server (restarted)
            code, error = describe_failure(exc)
            self.reporter.set_failed(code, error)
            stuck = self.exit_if_stuck(code)
            return code
        finally:
            self.close()
            if stuck is not None:  # the clean-up ended: the timer goes (it must not end a process that lives on)
                stuck.cancel()
        return self.stopped()

    def exit_if_stuck(self, code: int) -> threading.Timer:
        """After a failure reported with exit ``code``: should the clean-up that follows (closing the inlet, outlets and
        recording) hang (a recording's file on a dead network mount, a blocked outlet), end the process with ``code``
        after :attr:`cleanup_limit_s` all the same, its error saying so. Returns the timer, which :meth:`run` cancels
        once the clean-up ended (a worker run in a process that lives on, a test's, was ended 10 s later: the rest of
        a worker process's exit is bounded, its status pipe's close waits at most 2 s).

        The supervisor judges a worker's end when its process ends: a worker hung after reporting its failure was
        never judged, neither restarted nor ``error`` (a crash says ``starting`` until its end is judged; review s61
        F5). A stop's hang is the supervisor's to end (it terminates a worker that does not stop in 5 s)."""
        limit = self.cleanup_limit_s

        def give_up() -> None:
            said = (f"{self.status.error}; then its clean-up did not end within {limit:g} s (hung closing its "
                    f"inlet, outlets or recording): the worker exited with code {code} without it")
            log.error("decoder %s: its clean-up after the failure did not end within %g s: exiting with code %d "
                      "without it", self.decoder_id, limit, code)
            try:
                self.sender.put((self.decoder_id, self.generation,
                                 replace(self.status, error=said, t=pylsl.local_clock())))
                self.sender.flush(1.0)
            finally:
                os._exit(code)

        timer = threading.Timer(limit, give_up)
        timer.daemon = True  # never what keeps the process alive
        timer.start()
        return timer

    def stopped(self) -> int:
        self.reporter.set_state("stopped")
        return 0

    def loop(self) -> None:
        """Every sample available at each wake-up goes through one decode call."""
        commands, reporter = self.commands, self.reporter
        next_cmd_check = 0.0
        while not commands.stop_requested:
            now = pylsl.local_clock()
            if now >= next_cmd_check:  # poll() is a system call: look for commands every 5 ms, not every chunk
                next_cmd_check = now + CMD_CHECK_INTERVAL_S
                if commands.conn.poll():
                    commands.poll()
                    if commands.stop_requested:
                        break
                    now = pylsl.local_clock()
            if commands.swap_ready:
                commands.finish_swap()
                now = pylsl.local_clock()
            if self.inlet is None:  # lost without recovery: wait for the source to come back
                self.check_source(pylsl.local_clock())
                commands.conn.poll(0.05)
                if reporter.due(pylsl.local_clock()):
                    self.tick()
                continue
            if self.held is not None:  # a returned instance's first chunk, held until the instance is checked
                if self.poll_verify(pylsl.local_clock()):
                    commands.conn.poll(0.05)
                    if reporter.due(pylsl.local_clock()):
                        self.tick()
                    continue
                self.await_clock()
                self.process(*self.take_held())
                continue
            t_call = now
            try:
                x, ts = self.puller.pull(0.05)
            except LostError:
                self.on_lost()
                continue
            t0 = pylsl.local_clock()
            if len(ts) == 0:
                self.idle(t0)
                if reporter.due(t0):
                    self.tick()
                continue
            self.got_data(float(ts[0]), t0, float(ts[-1]))
            if self.verify_pending is not None:  # not found yet: held, looked for again at the next turn
                self.held = (x.copy(), ts.copy(), t_call, t0)
                continue
            self.await_clock()  # a new outlet instance from another clock: its offset first (blocks up to 3 s)
            self.process(x, ts, t_call, t0)
            if reporter.due(now := pylsl.local_clock()):
                self.tick()
            if now >= self.next_snapshot and self.decoder is not None:
                self.save_state(now)

    def save_state(self, now: float) -> None:
        """The decoder's state to the supervisor (restored if this worker crashes), as a shared worker sends each of
        its streams' (before, a dedicated worker's restart began from the model's initial state: audit s67eng F5)."""
        self.next_snapshot = now + self.spec.options.snapshot_interval_s
        decoder = self.decoder
        self.sender.put_saved((self.decoder_id, self.generation, SavedState(
            self.decoder_id, self.generation, decoder.card.sha256, decoder.seq, decoder.state.snapshot(),
            decoder.guard.held())))


def run_dedicated(decoder_id: str, generation: int, spec_json: str, models_dir: str, cmd_conn: Connection,
                  status_conn: Connection, status_interval: float, ring: RingHandles | None = None,
                  recordings_dir: str | None = None, log_level: str | None = None,
                  restore: dict[str, Any] | None = None) -> None:
    """The dedicated worker process, once :func:`~bci_stream.service.worker_entry.worker_main` (its spawn target)
    found it runs its service's code; exits with the worker's exit code. ``restore``: the fields of the state the
    last generation saved (its :class:`~bci_stream.service.pool_messages.SavedState`), or None."""
    configure_worker(f"decoder[{decoder_id}]", log_level)
    sender = StatusSender(status_conn)
    try:
        spec = DecoderSpec.model_validate_json(spec_json)
        worker = DecoderWorker(decoder_id, generation, spec, models_dir, cmd_conn, sender, status_interval,
                               ring, recordings_dir)
        worker.restore_from = None if restore is None else SavedState(**restore)
    except Exception as exc:  # noqa: BLE001 - before the worker could report anything (e.g. a ring it cannot map)
        code, error = describe_failure(exc)
        report_failure(decoder_id, generation, sender, status_interval, code, error,
                       {"kind": "dedicated", "index": None, "pid": os.getpid()})
        sender.close()
        raise SystemExit(code) from None
    def stop() -> None:  # a SIGTERM: stopped in order, its file finished
        worker.commands.stop_requested = True

    stop_on_sigterm(stop, lambda: worker.commands.stop_requested)
    code = worker.run()
    sender.close()
    end_if_terminated()
    raise SystemExit(code)


def describe_failure(exc: BaseException) -> tuple[int, str]:
    """A worker's exit code and error for ``exc``: a refusal (:data:`EXIT_REFUSED`, its message); a model it cannot
    load *now* for a reason of the server (:class:`~bci_stream.core.errors.ModelUnavailableError`: memory, file
    descriptors, storage, a busy file; :data:`EXIT_UNAVAILABLE`, its message: restarted, with the restart policy's
    backoff); a source it cannot read now (:class:`~bci_stream.core.errors.SourceUnavailableError`: 1, restarted as
    a crash is, :data:`~bci_stream.service.worker_entry.RESTARTED` and its message); or a crash (1, ``worker
    crashed:`` and its traceback); the supervisor keeps those messages in ``last_error`` after the exit code. The
    unavailable model's error is said without its advice to the API's clients to retry later: here the supervisor
    retries (or gives up) itself."""
    if isinstance(exc, ModelUnavailableError):
        return EXIT_UNAVAILABLE, str(exc) if exc.what is None else f"cannot load {exc.what} now: {exc.cause}"
    if isinstance(exc, SourceUnavailableError):  # not a refusal: restarted as a crash is, said without a traceback
        return 1, f"{RESTARTED}{exc}"
    if isinstance(exc, BciStreamError):
        return EXIT_REFUSED, str(exc)
    return 1, "worker crashed: " + "".join(traceback.format_exception(exc, limit=8))


def report_failure(decoder_id: str, generation: int, sender: StatusSender, status_interval: float, code: int,
                   error: str, worker: dict) -> None:
    """Report the failure (exit ``code``, ``error``) of a decoder that failed before it had a status of its own."""
    reporter = StatusReporter(decoder_id, generation, sender, status_interval, lambda kind, **fields: None)
    reporter.status.worker = worker
    reporter.set_failed(code, error)
