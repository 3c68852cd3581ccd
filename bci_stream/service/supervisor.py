"""The supervisor: starts, watches, restarts and stops decoder worker processes.

It lives in the API process. One monitor thread reads every worker's status pipe and checks every worker's liveness
several times a second: a worker that dies is noticed within ``poll_interval`` seconds, reported with its exit code,
and restarted with exponential backoff (:mod:`~bci_stream.service.restart_policy`: ``max_restarts`` and the backoff
count the crashes since it last ran healthy for ``restart_reset_s``; ``starting`` while a restart waits, ``error``
only when final), unless its model or stream was refused. Where a worker runs is its backend's concern
(:mod:`bci_stream.service.backends`: ``local`` processes, or ``ray`` actors); a restart that no node can take leaves
the decoder in ``error`` saying why. A Ray actor's restart runs off the monitor thread
(:mod:`~bci_stream.service.backends.starts`; the decoder is ``starting`` meanwhile), and one that fails for a transient
reason is retried under the same policy. A dead worker is judged after what it left on its status pipe was read."""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import threading
import time
import uuid
from dataclasses import replace
from typing import Any

from bci_stream.core.messages import Command
from bci_stream.core.errors import DecoderNotFoundError
from bci_stream.service.ring import OutputRing
from bci_stream.core.spec import DEFAULT_WORKER, DecoderSpec
from bci_stream.core.status import WorkerStatus
from bci_stream.service.pool_messages import SavedState, StreamEnded
from bci_stream.service.requests import send_command
from bci_stream.service.shared_pool import SharedPool, refused_without_reason
from bci_stream.service.spawn import start_without_sigint
from bci_stream.service.status_channel import drain, received_status
from bci_stream.service.backends import WorkerLink, make_backend
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.backends.local import local_placement
from bci_stream.service.backends.starts import Starts
from bci_stream.service.marker_witness import MarkerWitness
from bci_stream.service.output_ids import clash_to_reopen, reserve, set_apart
from bci_stream.service.restart_policy import DEFAULT_HEALTHY_S, RestartPolicy, exit_error
from bci_stream.service.worker import EXIT_REFUSED

log = logging.getLogger("bci_stream.supervisor")


class Supervisor:
    """Owns the decoder processes of one service.

    Parameters
    ----------
    models_dir
        Model registry folder handed to the workers.
    status_interval
        Seconds between status snapshots of a running worker.
    max_restarts
        Restarts of a crashed worker, since it last ran healthy, before it is left in ``error``.
    restart_backoff
        First restart delay in seconds, doubled on each further restart since it last ran healthy (capped at 30 s).
    restart_reset_s
        Seconds a worker must have been ``running`` for its next crash to count as a first one (budget, backoff).
    poll_interval
        Liveness check period of the monitor thread.
    recordings_dir
        Folder under which decoders write their ``record_path`` files (None: recording refused).
    shared_workers
        Size of the pool of shared workers for decoders with ``options.worker="shared"`` (None: the number of cores);
        placement is least loaded first (:mod:`bci_stream.service.shared_pool`).
    default_worker
        Worker kind of decoders whose options do not say (None: ``$BCI_STREAM_WORKER``, else ``DEFAULT_WORKER``).
    backend, backend_options
        Where workers run: ``local`` (processes here) or ``ray`` (actors; options ``address``, ``listen_host``,
        ``start_timeout`` of :class:`~bci_stream.service.backends.ray_backend.RayBackend`).
    """

    def __init__(self, models_dir: str, status_interval: float = 0.25, max_restarts: int = 3,
                 restart_backoff: float = 0.5, poll_interval: float = 0.1, recordings_dir: str | None = None,
                 shared_workers: int | None = None, default_worker: str | None = None, backend: str = "local",
                 backend_options: dict[str, Any] | None = None, restart_reset_s: float = DEFAULT_HEALTHY_S) -> None:
        default_worker = default_worker or os.environ.get("BCI_STREAM_WORKER") or DEFAULT_WORKER
        if default_worker not in ("dedicated", "shared"):
            raise ValueError(f"default_worker must be 'dedicated' or 'shared', got {default_worker!r}")
        self.default_worker, self.models_dir = default_worker, str(models_dir)
        self.recordings_dir = None if recordings_dir is None else str(recordings_dir)
        self.status_interval, self.poll_interval = status_interval, poll_interval
        self.policy = RestartPolicy(max_restarts, restart_backoff, restart_reset_s)  # its max_restarts, backoff
        self._ctx = mp.get_context("spawn")
        self.pool = SharedPool(self._ctx, shared_workers, self.models_dir, status_interval, self.recordings_dir,
                               start_without_sigint)
        extra = {"ctx": self._ctx} if backend == "local" else {"on_control": self._on_control}
        self.backend = make_backend(backend, models_dir=self.models_dir, status_interval=status_interval,
                                    recordings_dir=self.recordings_dir, **extra, **(backend_options or {}))
        self.starts = Starts(self.backend.start)  # restarts of a slow_start backend, off the monitor thread
        self._handles: dict[str, DecoderHandle] = {}
        self._clashes: set[str] = set()  # ids of decoders publishing another's decoded source_id (output_ids)
        self._lock, self._closing = threading.Lock(), threading.Event()
        self.witness = MarkerWitness(self.send)  # marker streams followed here: a restart's missed markers re-sent
        self._monitor = threading.Thread(target=self._monitor_loop, name="bci-stream-supervisor", daemon=True)
        self._monitor.start()

    # -- public API ----------------------------------------------------------------------------------

    def start(self, spec: DecoderSpec, n_outputs: int | None = None, sfreq: float | None = None) -> DecoderHandle:
        """Start a decoder's worker for ``spec`` (state ``starting``; a Ray actor first connects back to us).

        With ``n_outputs`` and ``sfreq`` (from the card), outputs also go to HTTP readers through a ring of
        ``options.outputs_buffer_s`` s (:meth:`reader`). :class:`PlacementError` when ``options.placement`` cannot be
        met. A second decoder of one model whose stream selector may match the same stream (no field of both differs)
        gets its id as ``options.output_instance`` (so does, later, one publishing another's: :mod:`.output_ids`)."""
        if "worker" not in spec.options.model_fields_set and spec.options.worker != self.default_worker:
            spec = spec.model_copy(update={"options": spec.options.model_copy(update={"worker": self.default_worker})})
        self.backend.check_placement(spec.options.placement)
        decoder_id = uuid.uuid4().hex[:12]
        with self._lock:  # reserved under the twin check's lock: a concurrent start of this stream and model sees it
            handle = reserve(self._handles, decoder_id, spec, self.backend.name)
        try:
            if n_outputs is not None and sfreq is not None:
                capacity = max(64, math.ceil(handle.spec.options.outputs_buffer_s * sfreq))
                handle.ring = (OutputRing.create_named(capacity, n_outputs) if handle.shared
                               else OutputRing.create(self._ctx, capacity, n_outputs))
            self._spawn(handle)  # outside the lock: starting a process takes tens of ms
        except BaseException:
            with self._lock:
                self._handles.pop(handle.id, None)
            if handle.shared and handle.ring is not None:
                handle.ring.unlink()
            raise
        self._end_if_stopped(handle)  # stopped (shutdown) while it was spawning: the new worker ends too
        return handle

    @property
    def alive(self) -> bool:
        """The monitor thread runs (workers are watched and restarted)."""
        return self._monitor.is_alive() and not self._closing.is_set()

    def get(self, decoder_id: str) -> DecoderHandle | None:
        with self._lock:
            return self._handles.get(decoder_id)

    def list(self) -> list[DecoderHandle]:
        with self._lock:
            return list(self._handles.values())

    def send(self, decoder_id: str, command: Command) -> bool:
        """Send a command to a running worker; False when it has no live process."""
        with self._lock:
            handle = self._handles.get(decoder_id)
            if handle is None or handle.process is None or not handle.process.is_alive():
                return False
            try:
                handle.cmd_conn.send(command)
            except (OSError, BrokenPipeError):
                return False
            return True

    def request(self, decoder_id: str, command: Command, timeout: float = 10.0) -> Any:
        """Send a command that expects an answer; return the worker's payload.

        Raises :class:`DecoderNotFoundError` (no decoder with that id), :class:`DecoderNotReadyError` (no running
        worker, or it is still starting), :class:`CommandRefusedError` (the worker refused: its reason is the
        message; or it went away meanwhile) or :class:`CommandTimeoutError` (no answer within ``timeout``)."""
        with self._lock:
            handle = self._handles.get(decoder_id)
        if handle is None:
            raise DecoderNotFoundError(f"no decoder with id {decoder_id!r}")
        return send_command(handle, command, timeout)

    def reader(self, decoder_id: str) -> Any:
        """A new reader of the decoder's outputs from now on, or None if it has no output ring."""
        handle = self.get(decoder_id)
        return None if handle is None or handle.ring is None else handle.ring.reader()

    def stop(self, decoder_id: str, timeout: float = 5.0) -> DecoderHandle | None:
        """Stop a decoder and wait for its process to end; it is removed from the list. None if there is
        no such decoder, or another caller is stopping it already (only one of them gets the handle)."""
        with self._lock:
            handle = self._handles.get(decoder_id)
            if handle is None or handle.stopping:
                return None
            handle.stopping = True
        self._terminate(handle, timeout)
        self.witness.forget(decoder_id)
        drain(handle.status_conn)  # the worker's last snapshot (its final counters), read by the monitor
        with self._lock:
            self._handles.pop(decoder_id, None)
            conn, handle.status_conn = handle.status_conn, None
        if conn is not None:
            conn.close()
        handle.status = replace(handle.status, state="stopped")
        if handle.shared and handle.ring is not None:
            handle.ring.unlink()  # readers still attached keep their mapping
        return handle

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every decoder and the monitor thread."""
        for handle in self.list():
            self.stop(handle.id, timeout)
        self._closing.set()
        self._monitor.join(timeout=2.0)
        self.starts.shutdown()
        self.pool.shutdown(timeout)
        self.backend.shutdown(timeout)
        for handle in self.list():
            if handle.status_conn is not None:
                handle.status_conn.close()

    # -- internals -----------------------------------------------------------------------------------

    def _spawn(self, handle: DecoderHandle) -> None:
        """Start a worker for ``handle`` (a new generation): the shared pool, or the backend (PlacementError)."""
        handle.running_since, handle.ended_status = None, handle.status  # the status of the generation before
        if handle.shared:
            self.pool.place(handle)
            handle.placement = local_placement(handle, handle.worker)
            return
        handle.generation += 1
        self._attach(handle, self.backend.start(handle))

    def _attach(self, handle: DecoderHandle, link: WorkerLink) -> None:
        """Take up a started worker (its generation already counted): its process, connections and placement."""
        old_status = handle.status_conn
        handle.process, handle.cmd_conn, handle.status_conn = link.process, link.cmd_conn, link.status_conn
        if old_status is not None:
            old_status.close()
        handle.exit_code, handle.restart_at = None, None
        # counters and histograms belong to a worker process: a new generation starts from zero
        handle.worker, handle.placement = link.worker, link.placement
        handle.status = WorkerStatus(pid=link.process.pid, error=handle.status.error, model=handle.status.model,
                                     worker=handle.worker)

    def _terminate(self, handle: DecoderHandle, timeout: float) -> None:
        if handle.process is None:
            return
        if handle.shared:
            self.pool.leave(handle, timeout)
        else:
            self.backend.terminate(handle, timeout)

    def _monitor_loop(self) -> None:
        next_check = 0.0
        while not self._closing.is_set():
            try:
                next_check = self._monitor_once(next_check)
            except Exception:  # one bad message or race must never end the supervision of every decoder
                log.exception("supervisor: unexpected error in the monitor loop (it goes on)")
                self._closing.wait(self.poll_interval)

    def _monitor_once(self, next_check: float) -> float:
        with self._lock:
            conns = {h.status_conn: h for h in self._handles.values() if h.status_conn is not None}
        conns.update(self.pool.controls())
        try:
            ready = mp_connection.wait(list(conns), timeout=self.poll_interval) if conns else []
        except (OSError, ValueError):  # a pipe was closed under us (stop, restart, shutdown)
            ready = []
        if not conns:
            self._closing.wait(self.poll_interval)
        for conn in ready:
            if isinstance(conns[conn], DecoderHandle):
                self._receive(conn, conns[conn])
                self.witness.saw(conns[conn])  # outside the lock: it may send the worker markers it missed
            else:
                self._on_control(self.pool.receive(conn))
        with self._lock:
            clashing = set_apart(self._clashes, self._handles)
        for handle in clashing:  # it publishes another decoder's source_id: restarted as .../<its id> (output_ids)
            self._terminate(handle, 5.0)
            self._restart(handle)
        now = time.monotonic()
        if now >= next_check:
            next_check = now + self.poll_interval
            self.pool.reap()
            for handle, future in self.starts.done():
                self._started(handle, future)
            for handle in self._check_processes(now):
                self._restart(handle)
            self.witness.tick(self.list())  # drained; a decoder left in a final state no longer witnessed
        return next_check

    def _receive(self, conn: Any, handle: DecoderHandle) -> None:
        """One status snapshot from a worker's pipe (a broken pipe ends that channel; one closed meanwhile: skip)."""
        with self._lock:
            if handle.status_conn is not conn or conn.closed:
                return
        try:
            decoder_id, generation, snapshot = conn.recv()
        except Exception:  # noqa: BLE001 - closed (by stop() while read: TypeError), or unreadable (other code)
            with self._lock:
                if handle.status_conn is conn:
                    handle.status_conn = None
            with contextlib.suppress(OSError):  # closed under us by stop()
                conn.close()
            return
        snapshot, announced = received_status(snapshot)  # announced: the exit code of a refusal
        with self._lock:  # also while stopping (the final snapshot), until stop() has let go of this pipe
            if generation == handle.generation and handle.status_conn is conn:
                if announced is not None and handle.shared:  # a shared worker refusing with other code
                    handle.slot_exit = announced
                handle.take_status(generation, snapshot)  # and its counters, summed over generations
                self.policy.saw(handle, snapshot.state, handle.status_received)
                if snapshot.error:
                    handle.last_error = snapshot.error
                if (clash := clash_to_reopen(handle, self._handles.values(), self._clashes)) is not None:
                    self._clashes.add(clash.id)

    def _on_control(self, message: Any) -> None:
        """A shared worker's message: a stream left it (:class:`StreamEnded`), or a state snapshot."""
        with self._lock:
            handle = self._handles.get(getattr(message, "decoder_id", None))
            if handle is None or message.generation != handle.generation:
                return
            if isinstance(message, StreamEnded):
                handle.slot_exit = message.code
            elif isinstance(message, SavedState):
                handle.saved = message

    def _restart(self, handle: DecoderHandle) -> None:
        """Start a new worker for a crashed decoder: here, or for a ``slow_start`` backend (Ray) on :attr:`starts`, the
        decoder ``starting`` meanwhile and its result taken up by :meth:`_started` in the monitor loop."""
        log.warning("restarting decoder %s (restart %d)", handle.id, handle.restarts)
        if handle.shared or not getattr(self.backend, "slow_start", False):
            try:
                self._spawn(handle)
            except Exception as exc:  # noqa: BLE001 - PlacementError, or a backend failure: reported, never fatal here
                self._start_failed(handle, exc)
                return
            self._end_if_stopped(handle)
            return
        handle.generation += 1
        with self._lock:
            handle.ended_status, handle.running_since = handle.status, None
            handle.status = replace(handle.status, state="starting")
        self.starts.submit(handle)

    def _started(self, handle: DecoderHandle, future: Any) -> None:
        """A start of :attr:`starts` ended: attach its worker, or judge its failure (:func:`start_failure`)."""
        if (exc := future.exception()) is not None:
            self._start_failed(handle, exc)
            return
        self._attach(handle, future.result())
        self._end_if_stopped(handle)

    def _start_failed(self, handle: DecoderHandle, exc: BaseException) -> None:
        """A restart failed: no node can take it (``error``, final), or a transient failure retried under the crash
        policy (:attr:`policy`; ``starting`` meanwhile); ``last_error`` says which."""
        with self._lock:
            self.policy.start_failed(handle, exc, time.monotonic())
        log.error("%s", handle.last_error)

    def _end_if_stopped(self, handle: DecoderHandle) -> None:
        """stop() raced with the restart: make sure the new worker ends too."""
        with self._lock:
            stopped_meanwhile, gone = handle.stopping, handle.id not in self._handles
        if stopped_meanwhile:
            self._terminate(handle, 5.0)
            if gone and handle.status_conn is not None:  # stop() has closed the old one; this is the new one
                handle.status_conn.close()

    def _ended(self) -> set[int]:
        """The handles (``id()``) whose worker ended and is not judged yet, each after what it left on its status pipe
        was read (its last error: sent just before it exited, it may still be pending). Outside the lock."""
        with self._lock:
            ended = [(h, h.status_conn) for h in self._handles.values() if not h.stopping and h.process is not None
                     and h.restart_at is None and h.exit_code is None
                     and (h.slot_exit is not None or not h.process.is_alive())]
        for handle, conn in ended:
            with contextlib.suppress(OSError, ValueError, EOFError):  # closed under us by stop()
                while conn is not None and not conn.closed and conn.poll(0):
                    self._receive(conn, handle)  # to its end: EOF closes it
        return {id(handle) for handle, _ in ended}

    def _check_processes(self, now: float) -> list[DecoderHandle]:
        """Notice dead workers (:meth:`_ended`); return those whose restart is due (started outside the lock)."""
        ended, due = self._ended(), []
        with self._lock:
            for handle in self._handles.values():
                process = handle.process
                if handle.stopping or process is None:
                    continue
                if handle.restart_at is not None:
                    if now >= handle.restart_at:
                        handle.restart_at = None
                        due.append(handle)
                    continue
                if handle.exit_code is not None or id(handle) not in ended:
                    continue
                process.join(0)
                handle.exit_code = process.exitcode if handle.slot_exit is None else handle.slot_exit
                if handle.slot_exit is not None:  # a shared worker's stream ended; the worker lives on
                    self.pool.remove(handle.id)
                refused = handle.exit_code == EXIT_REFUSED
                if handle.exit_code == 0 and handle.status.state == "stopped":
                    continue
                if not refused:
                    handle.last_error = exit_error(handle, self.backend.exit_message(process, handle.exit_code))
                handle.last_error = refused_without_reason(handle) or handle.last_error  # no refusal sent
                self.policy.crashed(handle, now, refused)  # restart_at and state starting, or error (final)
        return due
