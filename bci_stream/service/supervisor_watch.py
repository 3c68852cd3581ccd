"""The supervisor's monitor thread: it reads every worker's status pipe, notices dead workers and restarts them.

One thread (:meth:`WorkerWatch._monitor_loop`) reads every worker's status pipe and the shared pool's control pipes,
and checks every worker's liveness several times a second: a worker that dies is noticed within ``poll_interval``
seconds, reported with its exit code, and restarted with exponential backoff
(:mod:`~bci_stream.service.restart_policy`: ``max_restarts`` and the backoff count the crashes since it last ran
healthy for ``restart_reset_s``; ``starting`` while a restart waits, ``error`` only when final), unless its model or
stream was refused. A restart that no node can take leaves the decoder in ``error`` saying why. A Ray actor's restart
runs off the monitor thread (:mod:`~bci_stream.service.backends.starts`; the decoder is ``starting`` meanwhile), and
one that fails for a transient reason is retried under the same policy. A dead worker is judged after what it left
on its status pipe was read. A decoder found publishing another's decoded ``source_id`` is restarted under its own
(:mod:`~bci_stream.service.output_ids`).

:class:`WorkerWatch` is a part of :class:`~bci_stream.service.supervisor.Supervisor` (its base class): it works on
the supervisor's decoder table and uses its ``_spawn``, ``_attach``, ``_terminate`` and ``list``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing.connection as mp_connection
import threading
import time
from dataclasses import replace
from collections.abc import Callable
from typing import Any

from bci_stream.core.errors import DecoderStoppingError, ServiceEndingError
from bci_stream.core.status import WorkerStatus
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.backends.starts import Starts
from bci_stream.service.marker_witness import MarkerWitness
from bci_stream.service.model_pin import unpin
from bci_stream.service.output_ids import clash_to_reopen, set_apart
from bci_stream.service.pool_messages import SavedState, StreamEnded
from bci_stream.service.restart_policy import RestartPolicy, exit_error
from bci_stream.service.selector_matches import SelectorMatches
from bci_stream.service.shared_pool import SharedPool, refused_without_reason
from bci_stream.service.status_channel import received_status
from bci_stream.service.worker import EXIT_REFUSED

log = logging.getLogger("bci_stream.supervisor")

#: Seconds without a status snapshot after which the worker of a decoder that runs (``running``, ``stalled``: each
#: sends one every ``status_interval``) is hung, killed (SIGKILL; a Ray actor: ``ray.kill``) and
#: restarted as after a crash (a deadlock in native code, a stopped process, a write blocked on a dead mount). Far
#: above any pause of a working worker on a loaded host (a clock check blocks it for up to 3 s); ``/ready`` lists
#: it in ``decoders_unresponsive`` from 5 s on.
HUNG_KILL_S = 60.0
#: A decoder's states whose worker reports every ``status_interval`` (one ``starting`` or ``connecting`` may wait in
#: a model's load or in liblsl's timeouts while it opens its stream: 10 s for its info, 10 s to open it, and reports
#: when that ends)
REPORTING = ("running", "stalled")


def reporting(status: WorkerStatus) -> bool:
    """Whether the worker of a decoder in ``status`` reports every ``status_interval``: :data:`REPORTING`, or
    ``connecting`` while it holds its first output for a consumer (``output_stream.waiting_for_consumer_s``; review
    s63b F2: a worker hung in that wait was never killed)."""
    return status.state in REPORTING or (status.state == "connecting" and bool(
        (status.output_stream or {}).get("waiting_for_consumer_s")))


class WorkerWatch:
    """The monitor thread's work, for :class:`~bci_stream.service.supervisor.Supervisor` (which sets these)."""

    _lock: threading.Lock  # guards the decoder table and every handle's fields
    _closing: threading.Event  # set by shutdown: the monitor loop ends
    ending: threading.Event  # set as the server's shutdown begins (its signal): a worker's end is then no crash
    _handles: dict[str, DecoderHandle]  # the decoder table, by decoder id
    _clashes: set[str]  # ids of decoders publishing another's decoded source_id (output_ids)
    poll_interval: float
    policy: RestartPolicy
    pool: SharedPool
    backend: Any
    starts: Starts
    witness: MarkerWitness
    matches: SelectorMatches
    _ensure_pin: Callable[[DecoderHandle], None]  # the decoder's copy of its model, before a worker starts
    hung_kill_s: float = HUNG_KILL_S  # (:data:`HUNG_KILL_S`; 0: never)
    _last_pass: float | None = None  # time.monotonic() of the monitor's last check (_kill_silent)
    _resumed_at: float = -math.inf  # the end of the monitor's last gap of its own: silence counts from there

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
            handle.restarts += 1  # a restart as any (its gap counted): not one of the crash budget's
            self._terminate(handle, 5.0)
            self._read_final(handle)
            self._restart(handle)
        now = time.monotonic()
        if now >= next_check:
            next_check = now + self.poll_interval
            self.pool.reap()
            for handle, future in self.starts.done():
                self._started(handle, future)
            self._kill_silent(now)
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
        if isinstance(snapshot, SavedState):  # a dedicated worker's state snapshot (a shared one's: its control pipe)
            self._on_control(snapshot)
            return
        snapshot, announced = received_status(snapshot)  # announced: the exit code of a refusal
        if handle.shared:
            self.pool.heard(handle.process, snapshot.t)  # when its worker last reported (shared_pool.leave)
        with self._lock:  # also while stopping (the final snapshot), until stop() has let go of this pipe
            if generation == handle.generation and handle.status_conn is conn:
                if announced is not None and handle.shared:  # a shared worker refusing with other code
                    handle.slot_exit = announced
                snapshot = with_swap_pin(handle, snapshot)
                if snapshot.model is None and handle.status.model is not None:  # a new generation before (or
                    # instead of: refused) loading its model: the model the decoder ran stays (audit s66model F2)
                    snapshot = replace(snapshot, model=handle.status.model)
                if handle.exit_code is not None:  # a late word of a worker whose end is judged: the state is the
                    snapshot = replace(snapshot, state=handle.status.state, stall=handle.status.stall)  # policy's
                handle.take_status(generation, snapshot)  # and its counters, summed over generations
                if handle.ring is not None and (owed := (snapshot.stream or {}).get("owed_after")):
                    # a Ray actor's own ring is not this one (a local worker's is: a snapshot behind it only forward)
                    floor = snapshot.stream.get("owed_floor") if handle.backend == "ray" else None
                    handle.ring.note_owed_after(float(owed), None if floor is None else float(floor))
                self.matches.saw(handle)
                self.policy.saw(handle, snapshot.state, handle.status_received)
                ended = handle.ended  # this generation's end judged before this word came (a loaded machine)
                if snapshot.error and (ended is None or ended[0] != generation):
                    handle.last_error = snapshot.error
                elif snapshot.error and handle.last_error == ended[2]:  # (not given up since): the end's message
                    handle.last_error = exit_error(handle, ended[1]) + ended[3]  # stays, with the worker's word
                    handle.ended = (generation, ended[1], handle.last_error, ended[3])
                if (clash := clash_to_reopen(handle, self._handles.values(), self._clashes)) is not None:
                    self._clashes.add(clash.id)

    def _read_final(self, handle: DecoderHandle) -> None:
        """The last words of a worker this thread stopped (its final counters: the samples its inlet held, counted
        lost), read before a restart replaces its pipe. ``stop()`` lets the monitor read them (:func:`drain`); here
        the monitor stopped it itself (review s63b F1: a clash's reopen during a consumer wait lost that count). An
        ended worker publishes nothing (``published_id``), so its last word is no clash."""
        conn = handle.status_conn
        with contextlib.suppress(OSError, ValueError, EOFError):
            while conn is not None and handle.status_conn is conn and not conn.closed and conn.poll(0):
                self._receive(conn, handle)

    def _on_control(self, message: Any) -> None:
        """A shared worker's message: a stream left it (:class:`StreamEnded`), or a state snapshot (a dedicated
        worker's too, from its status pipe)."""
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
        try:
            self._ensure_pin(handle)  # its actor gets the copy's files (pinned_files)
        except Exception as exc:  # noqa: BLE001 - no copy and the registry's model is other bytes now (ModelError:
            self._start_failed(handle, exc)  # final), or another failure (retried under the crash policy)
            return
        handle.generation += 1
        with self._lock:
            handle.ended_status = handle.status
            handle.running_since = None
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
        policy (:attr:`policy`; ``starting`` meanwhile); ``last_error`` says which. A restart ended because the
        decoder is being deleted or the service shuts down is neither: nothing is retried, nor counted (review s61 F4:
        before, each was a failed restart, tried again with a new actor until the restarts were used up)."""
        if isinstance(exc, ServiceEndingError | DecoderStoppingError):
            log.info("decoder %s: its restart ended: %s", handle.id, exc)
            return
        with self._lock:
            self.policy.start_failed(handle, exc, time.monotonic())
        log.error("%s", handle.last_error)

    def _end_if_stopped(self, handle: DecoderHandle) -> None:
        """stop() raced with the start or restart: make sure the new worker ends too, and, when stop() is done
        already, that what the start made after it let go is freed: the model copy (made after stop() removed it, it
        was left on disk past the service's end) and a shared worker's output ring."""
        with self._lock:
            stopped_meanwhile = handle.stopping
            gone = handle.id not in self._handles
        if stopped_meanwhile:
            self._terminate(handle, 5.0)
            if gone and handle.status_conn is not None:  # stop() has closed the old one; this is the new one
                handle.status_conn.close()
            if gone:
                self._free(handle)

    @staticmethod
    def _free(handle: DecoderHandle) -> None:
        """What a decoder's start made beside its worker, freed once it is gone: a shared ring's named block and this
        process's handle of it (a WebSocket read under way ends first; later reads get no rows, and the route closes
        as for any deleted decoder), and its model copy."""
        if handle.shared and handle.ring is not None:
            handle.ring.unlink()
            handle.ring.close()
        unpin(handle.id)

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

    def _kill_silent(self, now: float) -> None:
        """Kill each worker process that sent no status for :attr:`hung_kill_s` (hung) while a decoder of it runs, once
        per worker generation; the next checks see it dead and judge its end as a crash's (restarted under the crash
        policy), its ``last_error`` saying why. Silence is judged per process, as ``SharedPool.leave`` judges a hung
        shared worker: one of whose decoders reports is alive, though another of its decoders still starts (its
        start-up waits in liblsl's timeouts: review s63 F2). It counts only while this thread ran: after a gap of
        its own (the whole service paused, ``docker pause``, Ctrl-Z), from the gap's end (review s63 F1: every
        worker was killed on resume). A status waiting unread on a pipe is no silence."""
        if self._last_pass is not None and now - self._last_pass > max(1.0, 4 * self.poll_interval):
            self._resumed_at = now  # this thread did not run meanwhile: no silence is known from before
        self._last_pass = now
        if self.hung_kill_s <= 0:
            return
        with self._lock:
            heard: dict[int, float] = {}  # process -> its latest status, of any decoder (starting ones too)
            for h in self._handles.values():
                if h.process is not None and h.status_received is not None:
                    heard[id(h.process)] = max(heard.get(id(h.process), -math.inf), h.status_received)
            silent = [h for h in self._handles.values() if not h.stopping and h.process is not None
                      and h.exit_code is None and h.restart_at is None and h.slot_exit is None
                      and reporting(h.status) and h.status_conn is not None
                      and now - max(heard.get(id(h.process), now), self._resumed_at) > self.hung_kill_s
                      and (h.silenced is None or h.silenced[0] != h.generation)]
        killed: set[int] = set()
        for handle in silent:
            conn, process = handle.status_conn, handle.process
            try:
                if conn.closed or conn.poll(0) or not process.is_alive():
                    continue
            except (OSError, ValueError, EOFError):  # closed under us by stop(): not hung
                continue
            silence = now - max(heard[id(process)], self._resumed_at)
            where = f"its shared worker (pid {process.pid}) sent no status of any decoder" if handle.shared \
                else f"its worker (pid {process.pid}) sent no status"
            why = (f"{where} for {silence:.0f} s while the decoder was {handle.status.state} (hung; the limit is "
                   f"{self.hung_kill_s:g} s, setting hung_kill_s): killed by the supervisor")
            with self._lock:
                handle.silenced = (handle.generation, why)
            log.error("decoder %s: %s", handle.id, why)
            if id(process) in killed:
                continue
            killed.add(id(process))
            if handle.shared:
                self.pool.kill(process, why)
            else:
                process.kill()  # (a Ray actor's: ray.kill)

    def _check_processes(self, now: float) -> list[DecoderHandle]:
        """Notice dead workers (:meth:`_ended`); return those whose restart is due (started outside the lock)."""
        ended = self._ended()
        due = []
        with self._lock:
            for handle in self._handles.values():
                process = handle.process
                if handle.stopping or process is None:
                    continue
                if handle.restart_at is not None:
                    if now >= handle.restart_at and not self.ending.is_set():  # none once the shutdown began
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
                if self.ending.is_set() and not refused:  # the shutdown's signal reached the worker too
                    log.info("decoder %s: its worker (pid %s) ended with code %s as the service shuts down (the "
                             "signal reached it too, e.g. sent to the process group): not restarted", handle.id,
                             process.pid, handle.exit_code)
                    continue
                said = None
                if not refused:
                    said = self.backend.exit_message(process, handle.exit_code)
                    if handle.shared:  # killed as hung (another decoder's stop waited for it in vain): why
                        said = self.pool.killed_note(process, said)
                    elif (hung := handle.hung_why) is not None:
                        said = f"{said}: {hung}"  # killed as hung (_kill_silent)
                    handle.last_error = exit_error(handle, said)
                handle.last_error = refused_without_reason(handle) or handle.last_error  # no refusal sent
                judged = handle.last_error
                self.policy.crashed(handle, now, refused)  # restart_at and state starting, or error (final)
                kept = said is not None and handle.last_error.startswith(judged)  # not given up for the model
                handle.ended = (handle.generation, said, handle.last_error, handle.last_error[len(judged):]) if kept \
                    else None
        return due


def with_swap_pin(handle: DecoderHandle, status: WorkerStatus) -> WorkerStatus:
    """``status`` (a worker's snapshot, or the decoder's status right after the swap) with the pin fields of the model
    a hot swap put in (``handle.swap_pin``: ``pinned``, ``registry_now``), which a worker gives only for the model it
    starts with; as it is when its model is another or already has them (a restarted worker's)."""
    model, pin = status.model, handle.swap_pin
    if pin is None or model is None or "pinned" in model or model.get("sha256") != pin[0]:
        return status
    return replace(status, model=model | pin[1])
