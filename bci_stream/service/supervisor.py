"""The supervisor: starts, watches, restarts and stops decoder worker processes.

It lives in the API process and owns the decoder table: :meth:`Supervisor.start` spawns a decoder's worker,
:meth:`~Supervisor.send` and :meth:`~Supervisor.request` pass it commands, :meth:`~Supervisor.reader` reads its
outputs, :meth:`~Supervisor.stop` and :meth:`~Supervisor.shutdown` end it. Where a worker runs is its backend's
concern (:mod:`bci_stream.service.backends`: ``local`` processes, or ``ray`` actors). Its monitor thread, which reads
every worker's status and restarts a crashed one with exponential backoff (``max_restarts``, ``restart_backoff``,
``restart_reset_s``), is :class:`~bci_stream.service.supervisor_watch.WorkerWatch`, its base class."""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import tempfile
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from bci_stream.core.messages import Command, SwapModel
from bci_stream.core.errors import (CapacityError, DecoderIdInUseError, DecoderNotFoundError, DecoderStoppingError,
                                    ModelError, ModelUnavailableError, PinDamagedError)
from bci_stream.core.open_files_shortage import SHORT, start_shortage
from bci_stream.core.registry import ModelEntry, ModelRegistry
from bci_stream.service.ring import OutputRing
from bci_stream.core.spec import DEFAULT_WORKER, DecoderSpec
from bci_stream.core.status import Counters, WorkerStatus
from bci_stream.service.requests import send_command
from bci_stream.service.shared_pool import SharedPool
from bci_stream.service.spawn import start_without_sigint, worker_context
from bci_stream.service.status_channel import drain
from bci_stream.service.backends import WorkerLink, make_backend
from bci_stream.service.backends.handle import DecoderHandle, about_decoder, worker_text
from bci_stream.service.backends.local import local_placement
from bci_stream.service.backends.starts import Starts, start_ended
from bci_stream.service.caps import decoders_full
from bci_stream.service.marker_witness import MarkerWitness
from bci_stream.service.model_pin import (has_pin, load_pinned, pin_dir, pin_error, pin_ref, pins_root,
                                         root_problem, sweep_stale)
from bci_stream.service.output_ids import reserve
from bci_stream.service.restart_policy import DEFAULT_HEALTHY_S, RestartPolicy
from bci_stream.service.selector_matches import SelectorMatches
from bci_stream.service.supervisor_watch import WorkerWatch, with_swap_pin

#: Names importable from here: the supervisor's, and those callers import from here (the handle, the spawn helper).
__all__ = ["DecoderHandle", "Supervisor", "start_without_sigint"]

log = logging.getLogger("bci_stream.supervisor")


class Supervisor(WorkerWatch):
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
    max_decoders
        Most decoders listed at once (None: no cap): one more start is a :class:`CapacityError`.
    log_level
        The workers' log level (the setting ``log_level``; None: ``BCI_STREAM_LOG_LEVEL`` of their process, else INFO).
    """

    def __init__(self, models_dir: str, status_interval: float = 0.25, max_restarts: int = 3,
                 restart_backoff: float = 0.5, poll_interval: float = 0.1, recordings_dir: str | None = None,
                 shared_workers: int | None = None, default_worker: str | None = None, backend: str = "local",
                 backend_options: dict[str, Any] | None = None, restart_reset_s: float = DEFAULT_HEALTHY_S,
                 max_decoders: int | None = None, log_level: str | None = None) -> None:
        default_worker = default_worker or os.environ.get("BCI_STREAM_WORKER") or DEFAULT_WORKER
        if default_worker not in ("dedicated", "shared"):
            raise ValueError(f"default_worker must be 'dedicated' or 'shared', got {default_worker!r}")
        self.default_worker, self.models_dir = default_worker, str(models_dir)
        self.recordings_dir = None if recordings_dir is None else str(recordings_dir)
        self.status_interval, self.poll_interval, self.max_decoders = status_interval, poll_interval, max_decoders
        self.policy = RestartPolicy(max_restarts, restart_backoff, restart_reset_s)  # its max_restarts, backoff
        self._ctx = worker_context()
        extra = {"ctx": self._ctx} if backend == "local" else {"on_control": self._on_control}
        self.backend = make_backend(backend, models_dir=self.models_dir, status_interval=status_interval,
                                    log_level=log_level, recordings_dir=self.recordings_dir, **extra,
                                    **(backend_options or {}))
        self.pool = SharedPool(self._ctx, shared_workers, self.models_dir, status_interval, self.recordings_dir,
                               start_without_sigint, self.backend.code_stamp, log_level=log_level)
        self.starts = Starts(self.backend.start)  # restarts of a slow_start backend, off the monitor thread
        self._handles: dict[str, DecoderHandle] = {}
        self._clashes: set[str] = set()  # ids of decoders publishing another's decoded source_id (output_ids)
        self.swept = self._sweep_pins()
        self._lock, self._closing = threading.Lock(), threading.Event()
        self.ending = threading.Event()  # the server's shutdown began: requests still waiting end (begin_shutdown)
        self.witness = MarkerWitness(self.send)  # marker streams followed here: a restart's missed markers re-sent
        self.matches = SelectorMatches()  # other streams a decoder's selector matches (status stream.also_matching)
        self._monitor = threading.Thread(target=self._monitor_loop, name="bci-stream-supervisor", daemon=True)
        self._monitor.start()

    # -- public API ----------------------------------------------------------------------------------

    def start(self, spec: DecoderSpec, n_outputs: int | None = None, sfreq: float | None = None) -> DecoderHandle:
        """Start a decoder's worker for ``spec`` (state ``starting``; a Ray actor first connects back to us).

        With ``n_outputs`` and ``sfreq`` (from the card), outputs also go to HTTP readers through a ring of
        ``options.outputs_buffer_s`` s (:meth:`reader`). :class:`PlacementError` when ``options.placement`` cannot be
        met. A second decoder of one model whose stream selector may match the same stream (no field of both differs)
        gets its id as ``options.output_instance`` (so does, later, one publishing another's: :mod:`.output_ids`)."""
        if ("worker" not in spec.options.model_fields_set and spec.options.worker != self.default_worker
                and self.backend.name == "local"):  # under Ray every decoder has an actor of its own: not stamped
            spec = spec.model_copy(update={"options": spec.options.model_copy(update={"worker": self.default_worker})})
        self.backend.check_placement(spec.options.placement)
        decoder_id = spec.id or uuid.uuid4().hex[:12]
        with self._lock:  # reserved under the twin check's lock: a concurrent start of this stream and model sees it
            if (held := self._handles.get(decoder_id)) is not None:
                then = ("it is being stopped (a DELETE is in progress): POST again once it is gone (404)"
                        if held.stopping else f"DELETE /decoders/{decoder_id} first")
                raise DecoderIdInUseError(f"decoder id {decoder_id!r} is in use (a decoder in state "
                                          f"{held.status.state!r}): {then}, or give another id")
            if self.max_decoders is not None and len(self._handles) >= self.max_decoders:  # a stopping one too
                raise CapacityError(decoders_full(self.max_decoders))
            handle = reserve(self._handles, decoder_id, spec, self.backend.name)
        try:
            if (ended := start_ended(handle, self.ending)) is not None:  # the shutdown began: no worker (s68fault F1)
                raise ended
            if isinstance(pinned := self._copy(handle), ModelEntry) and n_outputs is not None:  # what its workers run
                n_outputs, sfreq = pinned.card.n_outputs, pinned.card.sfreq
            if n_outputs is not None and sfreq is not None:
                capacity = max(64, math.ceil(handle.spec.options.outputs_buffer_s * sfreq))
                handle.ring = (OutputRing.create_named(capacity, n_outputs) if handle.shared
                               else OutputRing.create(self._ctx, capacity, n_outputs))
            self._spawn(handle)  # outside the lock: starting a process takes tens of ms
        except BaseException as exc:
            with self._lock:  # (a DELETE during the start removed it already: a new decoder may have its id now)
                if self._handles.get(handle.id) is handle:
                    self._handles.pop(handle.id)
            self._free(handle)
            if isinstance(exc, OSError) and exc.errno in SHORT:  # out of file descriptors: 503, naming the limit
                raise start_shortage(handle.id, exc) from None
            if isinstance(exc, (OSError, EOFError)) and (ended := start_ended(handle, self.ending)) is not None:
                raise ended from None  # the shutdown ended what the start used (the fork server): 503, not a bare 500
            raise
        self._end_if_stopped(handle)  # stopped (shutdown) while it was spawning: the new worker ends too
        if handle.stopping:  # a DELETE (or the shutdown) while it started, e.g. waiting for its Ray placement: gone
            log.info("decoder %s was stopped while its start ran: not created", handle.id)
            raise DecoderStoppingError(f"decoder {handle.id} was stopped (DELETE, or the service's shutdown) while "
                                       "this request started it: it is gone")
        log.info("decoder %s created: stream %s, model %s, worker %s", handle.id, about_decoder(handle), spec.model,
                 worker_text(handle))  # before: only uvicorn's access line (POST /decoders 201) said it
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

    def snapshot(self, handle: DecoderHandle) -> DecoderHandle:
        """A copy of ``handle`` as of one moment, taken under the lock its monitor thread changes it under: read
        field by field instead, a status could show a restart counted with the ended worker's ``running`` status."""
        with self._lock:
            copied = copy.copy(handle)
            copied.counted = copy.copy(handle.counted)  # (its totals are replaced as a whole, never changed in place)
            return copied

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
        if handle.stopping:
            raise DecoderStoppingError(stopping_refusal(decoder_id, command.kind))
        generation = handle.generation
        before = (handle.status.model or {}).get("name") or handle.spec.model.partition("@")[0]
        payload = send_command(handle, command, timeout, self.models_dir, self.ending)
        with self._lock:
            if isinstance(command, SwapModel):  # its status until the worker's next snapshot: the new pin's fields
                handle.status = with_swap_pin(handle, handle.status)
            if isinstance(counters := getattr(payload, "counters", None), dict) and handle.generation == generation:
                handle.take_answer(generation, Counters(**counters))  # newer than the last snapshot
            if isinstance(command, SwapModel):  # the new model's /metrics series count from here
                name = command.model.partition("@")[0]
                handle.series.switch(name, before, handle.totals(), handle.counted.latency(), handle.restarts)
        return payload

    def reader(self, decoder_id: str) -> Any:
        """A new reader of the decoder's outputs from now on, or None if it has no output ring."""
        handle = self.get(decoder_id)
        return None if handle is None or handle.ring is None else handle.ring.reader()

    def stop(self, decoder_id: str, timeout: float = 5.0) -> DecoderHandle | None:
        """Stop a decoder and wait for its process to end; it is removed from the list. None if there is no such
        decoder; :class:`DecoderStoppingError` if another caller is stopping it already (only one of them gets the
        handle; meanwhile its state is ``stopping`` and it takes no command)."""
        with self._lock:
            handle = self._handles.get(decoder_id)
            if handle is None:
                return None
            if handle.stopping:
                raise DecoderStoppingError(stopping_refusal(decoder_id, "stop"))
            handle.stopping = True
            before, handle.status = handle.status, replace(handle.status, state="stopping")
        try:
            self._terminate(handle, timeout)
        except BaseException:  # the stop did not happen (a backend's error): the decoder is as it was, not 'stopping'
            with self._lock:
                handle.stopping = False
                if handle.status.state == "stopping":
                    handle.status = replace(handle.status, state=before.state)
            raise
        self.witness.forget(decoder_id)
        self.matches.forget(decoder_id)
        drain(handle.status_conn)  # the worker's last snapshot (its final counters), read by the monitor
        with self._lock:
            self._handles.pop(decoder_id, None)
            conn, handle.status_conn = handle.status_conn, None
        if conn is not None:
            conn.close()
        handle.status = replace(handle.status, state="stopped")
        self._free(handle)
        log.info("decoder %s stopped and removed: stream %s, model %s, worker %s", decoder_id, about_decoder(handle),
                 handle.spec.model, worker_text(handle))
        return handle

    def begin_shutdown(self) -> None:
        """The server's shutdown began: requests waiting for a start or a worker's answer end now (503)."""
        self.ending.set()
        self.backend.begin_shutdown()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every decoder and the monitor thread."""
        for handle in self.list():
            with contextlib.suppress(DecoderStoppingError):  # a DELETE under way stops it
                self.stop(handle.id, timeout)
        self._closing.set()
        self._monitor.join(timeout=2.0)
        self.starts.shutdown()
        self.matches.close()
        self.pool.shutdown(timeout)
        self.backend.shutdown(timeout)
        for handle in self.list():
            if handle.status_conn is not None:
                handle.status_conn.close()

    # -- one worker generation: started, taken up, ended (restarts: supervisor_watch) ------------------

    def _spawn(self, handle: DecoderHandle) -> None:
        """Start a worker for ``handle`` (a new generation): the shared pool, or the backend (PlacementError)."""
        handle.running_since, handle.ended_status = None, handle.status  # the status of the generation before
        self._ensure_pin(handle)
        try:
            if handle.shared:
                self.pool.place(handle)
                handle.placement = local_placement(handle, handle.worker)
                return
            handle.generation += 1
            self._attach(handle, self.backend.start(handle))
        except OSError as exc:  # a restart's too (review s53rev F3: its last_error said only "[Errno 24] ...")
            if exc.errno in SHORT:
                raise start_shortage(handle.id, exc) from None
            raise

    def _ensure_pin(self, handle: DecoderHandle) -> None:
        """Before a worker starts: the decoder's copy of its model, made now if it has none (its model could not be
        loaded at start, or the copy was removed under it). Without a copy (the pins folder unwritable or full), a
        restart whose registry model is other bytes than the decoder ran is refused: ModelError (final), never
        another model run under the decoder's id and source_id."""
        if has_pin(handle.id):  # the copy, or its error
            try:
                load_pinned(handle.id)  # verified (its worker verifies it again)
                return
            except PinDamagedError as exc:  # its files removed or changed under it: copied again (the same bytes)
                log.warning("decoder %s: its copy of its model does not verify (%s): copied again", handle.id, exc)
            except (ModelError, ModelUnavailableError, OSError):  # an error in its place (the restart ends in it),
                return  # or not readable now (its worker retries, or says why)
        copied = self._copy(handle)
        if isinstance(copied, ModelEntry) or has_pin(handle.id):
            return
        ran = handle.pinned[1] if handle.pinned is not None else (handle.status.model or {}).get("sha256")
        try:
            now = ModelRegistry(self.models_dir).get(handle.spec.model).card.sha256
        except (ModelError, ModelUnavailableError, OSError):  # its worker says why (or retries a transient cause)
            return
        if ran is not None and now != ran:
            raise ModelError(f"decoder {handle.id} ran model {handle.spec.model!r} (sha256 {ran}) and has no copy of "
                             f"it (it could not be made in {pin_dir(handle.id)}: {copied}); the registry's is other "
                             f"bytes now (sha256 {now}): a restart would run another model; POST the decoder again to "
                             "run the registry's model")

    def _copy(self, handle: DecoderHandle) -> ModelEntry | Exception:
        """Copy the decoder's model into its own folder, which its workers load (:mod:`.model_pin`): a restart runs
        the same bytes even if the registry's folder was replaced meanwhile. Why not when it cannot: a model not found,
        invalid, or unavailable now (its worker then refuses it, or retries, with the registry's error); or the copy
        was lost (a temp folder cleaned) and the registry's model is other bytes now: the copy is then that error (a
        restart ends in it, final, rather than run another model or crash on its other outputs)."""
        try:
            entry = pin_ref(handle.id, self.models_dir, handle.spec.model,
                            expect_sha=None if handle.pinned is None else handle.pinned[1])
        except (ModelError, ModelUnavailableError, OSError) as exc:
            if handle.pinned is not None and isinstance(exc, ModelError):
                ref, sha = handle.pinned
                with contextlib.suppress(OSError):  # the pins folder unusable: _ensure_pin compares the bytes itself
                    pin_error(handle.id, f"model {handle.spec.model!r} was replaced on disk since decoder {handle.id} "
                              f"started it, and the decoder's copy of it is gone: it was {ref} (sha256 {sha}), now: "
                              f"{exc}; POST the decoder again to run the registry's model")
            log.warning("decoder %s: model %r not copied into %s (its worker looks it up): %s", handle.id,
                        handle.spec.model, pin_dir(handle.id), exc)
            return exc
        handle.pinned = (entry.card.ref, entry.card.sha256)
        return entry

    def _sweep_pins(self) -> list[Path]:
        """At start: remove the model copies left by services (or actors) that crashed (:func:`sweep_stale`); warn
        when no copy can be made there (a file in its place, a read-only or full disk)."""
        try:
            if (why := root_problem()) is not None:
                raise PermissionError(why)
            pins_root().mkdir(parents=True, exist_ok=True, mode=0o700)
            tempfile.TemporaryFile(dir=pins_root()).close()
        except OSError as exc:
            log.warning("decoders' model copies cannot be kept in %s (%s): a restarted worker then runs the registry's "
                        "model only while it is the bytes its decoder ran (else the decoder ends in error); set "
                        "BCI_STREAM_PINS_DIR to a writable folder", pins_root(), exc)
        try:
            removed = sweep_stale()
        except OSError as exc:  # a root it may not read: nothing removed, the service runs
            log.warning("model copies in %s not checked for crashed owners: %s", pins_root(), exc)
            return []
        if removed:
            log.warning("removed the model copies of %d decoder(s) of services that ended without stopping them, "
                        "in %s: %s", len(removed), pins_root(), ", ".join(p.name for p in removed))
        return removed

    def _attach(self, handle: DecoderHandle, link: WorkerLink) -> None:
        """Take up a started worker (its generation already counted): its process, connections and placement."""
        old_status = handle.status_conn
        handle.process, handle.cmd_conn, handle.status_conn = link.process, link.cmd_conn, link.status_conn
        if old_status is not None:
            old_status.close()
        handle.exit_code, handle.ended, handle.restart_at = None, None, None
        # counters and histograms belong to a worker process: a new generation starts from zero
        handle.worker, handle.placement = link.worker, link.placement
        handle.status = handle.new_generation_status(WorkerStatus(
            pid=link.process.pid, error=handle.status.error, model=handle.status.model, worker=handle.worker))

    def _terminate(self, handle: DecoderHandle, timeout: float) -> None:
        if handle.process is not None:
            (self.pool.leave if handle.shared else self.backend.terminate)(handle, timeout)


def stopping_refusal(decoder_id: str, kind: str) -> str:
    """Why decoder ``decoder_id``, being stopped, refuses ``kind`` (a command's kind, or ``stop``)."""
    what = "no second stop (DELETE)" if kind == "stop" else f"no {kind!r} command"  # ("a second": audit s62multi F8)
    return (f"decoder {decoder_id} is being stopped (a DELETE is in progress, state 'stopping'): it takes {what}; "
            "the first DELETE's answer is its final status, and once stopped it is gone (404)")
