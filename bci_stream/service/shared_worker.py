"""The shared worker: one OS process hosting many decoded streams, one batched step per model per wake-up.

Each hosted decoder is a :class:`~bci_stream.service.stream_slot.StreamSlot` with its own command and status
pipes (so the API sees it exactly as a dedicated decoder); streams of the same model share one session and
one slot table (:class:`~bci_stream.service.slot_pool.SlotPool`). A wake-up pulls every inlet without
waiting, stages each chunk (channel map, timestamps, gaps, NaN policy: per stream), steps the ready streams
of each model in one ``step_ready`` call and publishes each stream's outputs with its own timestamps. When
no inlet had data the loop waits in the pull of the stream due next (:mod:`bci_stream.service.arrivals`:
with one stream, a blocking pull as in the dedicated worker; with several, until the next one is due), so
it neither spins nor sleeps past an arrival. A stream starts (model load, resolve, connect: the slow
parts) in a thread of its own, so the others never wait for it.

Isolation: everything a stream does at a wake-up runs under its own ``try``: its error (refused stream,
wrong channel count, a crash in its code) ends that stream alone (``error``, then :class:`StreamEnded` with the
code a dedicated worker would exit with); the others keep decoding. Every ``snapshot_interval_s`` each stream's
state goes to the supervisor (:class:`SavedState`), which re-adds a crashed worker's streams to a new one.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from multiprocessing.connection import Connection
from typing import Any

import pylsl
from pylsl.util import LostError

from bci_stream.core.spec import DecoderSpec
from bci_stream.service.arrivals import BURST_S, Arrivals, plan
from bci_stream.service.control_sender import ControlSender
from bci_stream.service.pool_messages import AddStream, SavedState, StopWorker, StreamEnded
from bci_stream.service.slot_pool import SlotPool
from bci_stream.service.status_channel import StatusSender
from bci_stream.service.term_signal import TERMINATED, end_if_terminated, stop_on_sigterm
from bci_stream.service.stream_slot import StreamSlot
from bci_stream.service.worker import CMD_CHECK_INTERVAL_S, describe_failure, report_failure
from bci_stream.core.log_setup import configure_worker

log = logging.getLogger("bci_stream.worker")


class ParentGone(RuntimeError):
    """The worker's parent process ended while the supervisor still answers: the fork server it was forked from
    (:func:`~bci_stream.service.spawn.worker_context`). The supervisor has lost this worker's exit status with it and
    counts the worker as crashed; the worker ends as a crash does, so no stream of it is taken as stopped."""


class Member:
    """A hosted stream: its slot, its start-up thread and outcome, its snapshot timer, its arrival rhythm."""

    def __init__(self, slot: StreamSlot, restore: SavedState | None) -> None:
        self.slot = slot
        self.arrivals = Arrivals(0.0)
        self.cmd_fd: int | None = None  # its command pipe's descriptor, in the worker's poll set
        self.restore = restore
        self.starter: threading.Thread | None = None
        self.outcome: tuple[int, str | None] | None = None  # start-up failed or stopped: (code, error)
        self.running = False
        self.ended = False
        self.next_snapshot = 0.0


class SharedWorker:
    """Hosts many decoders in one process (see the module docstring).

    Parameters
    ----------
    index
        The worker's index in the supervisor's pool (shown in each stream's status).
    control
        The worker's control pipe (:mod:`bci_stream.service.pool_messages`).
    models_dir, status_interval, recordings_dir
        As for a dedicated worker.
    """

    def __init__(self, index: int, control: Connection, models_dir: str, status_interval: float = 0.25,
                 recordings_dir: str | None = None) -> None:
        self.index = index
        self.control = control
        self.out = ControlSender(control)
        self.models_dir = models_dir
        self.status_interval = status_interval
        self.recordings_dir = recordings_dir
        self.pool = SlotPool()
        self.members: dict[str, Member] = {}
        self.active: list[Member] = []  # the running members with an open inlet (rebuilt by housekeeping)
        self.stop_requested = False
        self._parent_pid = os.getppid()
        self._pipes = select.poll()  # the control pipe and every stream's command pipe: one system call for all
        self._pipes.register(control.fileno(), select.POLLIN)

    def run(self) -> int:
        """Host streams until told to stop (0); a crash of the worker itself ends every stream with its traceback as
        their error and code 1 (they are restarted elsewhere with their last state), and the worker with 1."""
        code, error = 0, None
        try:
            self.loop()
        except ParentGone as exc:  # as a crash: every stream restarted, never "stopped" with nobody asking
            log.error("%s", exc)
            code, error = 1, str(exc)
        except Exception as exc:  # noqa: BLE001 - not one stream's: every stream is told, not silently "stopped"
            log.exception("shared worker %d crashed", self.index)
            code, error = 1, describe_failure(exc)[1]  # the worker's failure, not a stream's refusal: restarted
        finally:
            if TERMINATED.is_set() and error is None:  # a SIGTERM: its streams are restarted as after a crash (not
                # when the service shuts down: its own signal), each stopped in order first, its file finished
                log.info("shared worker %d (pid %d) got SIGTERM: its streams stop", self.index, os.getpid())
                code = 1
            for member in list(self.members.values()):
                member.slot.commands.stop_requested = True
            for member in list(self.members.values()):
                if member.starter is not None:
                    member.starter.join(5.0)
                if error is not None:
                    member.slot.reporter.set_failed(code, error)
                self.end(member, code)
            self.out.close()
        return code

    def parent_gone(self) -> str:
        """Why this worker ends when its parent process ended (here: the service's fork server)."""
        return (f"shared worker {self.index}: its parent process {self._parent_pid} ended (the service's fork server, "
                "killed?); its streams are restarted elsewhere")

    # -- the loop --------------------------------------------------------------------------------------

    def loop(self) -> None:
        next_check = 0.0
        data = False
        while not self.stop_requested:
            now = pylsl.local_clock()
            if now >= next_check:  # system calls (pipe polls): every few ms, not at every wake-up
                next_check = now + CMD_CHECK_INTERVAL_S
                self.housekeeping(now)
            active = self.active
            if not active:  # nothing to pull: wait for the supervisor, or for the next housekeeping
                t_wait = pylsl.local_clock()
                if self.control.poll(max(0.0, next_check - t_wait)):
                    next_check = 0.0
                self.pool.worker_load.waited(pylsl.local_clock() - t_wait)
                data = False
            elif data and len(active) > 1:  # more may have come while the last round decoded: pull those due again
                data = self.wake(active, None, 0.0, due_by=pylsl.local_clock())
            else:  # wait in the pull of the stream due next, then pull every stream
                target, timeout = plan(active, pylsl.local_clock(), next_check)
                data = self.wake(active, target, timeout)

    def wake(self, active: list[Member], target: Member | None, timeout: float, due_by: float | None = None) -> bool:
        """Pull ``target`` (waiting up to ``timeout``), then every other running stream without waiting (only those
        due by ``due_by`` if given); step the ready ones per model, publish; True if any had data."""
        ready: list[tuple[Member, Any, Any, Any, int, float, float, float]] = []
        if target is not None:
            self.collect(target, timeout, ready)
        for member in active:
            if member is not target and (due_by is None or member.arrivals.due <= due_by):
                self.collect(member, 0.0, ready)
        if not ready:
            return False
        if len(ready) < len(active):
            self.gather(active, ready)
        t_step = pylsl.local_clock()
        results = self.pool.step([(m.slot.decoder, seg) for m, seg, *_ in ready])
        share = (pylsl.local_clock() - t_step) / len(ready)  # each stream's part of the batched step, for `busy`
        for (member, _, tsk, seq, n, t_call, t0, staged_s), result in zip(ready, results):
            try:
                if isinstance(result, Exception):
                    raise result
                y, t_dec = result
                member.slot.publish(y, tsk, seq, t_dec, n, t_call, t0, worked_s=staged_s + share)
            except Exception as exc:  # noqa: BLE001
                self.fail(member, exc)
        return True

    def gather(self, active: list[Member], ready: list) -> None:
        """Wait (until :data:`BURST_S` from now, at most) for the streams whose chunk is due with the ones in
        ``ready``, so that a burst is stepped in one call; a stream that does not keep its rhythm is not waited for."""
        now = pylsl.local_clock()
        have = {id(r[0]) for r in ready}
        soon = [m for m in active if id(m) not in have and m.arrivals.expected(now, BURST_S)]
        deadline = now + BURST_S
        for member in sorted(soon, key=lambda m: m.arrivals.due):
            self.collect(member, max(0.0, deadline - pylsl.local_clock()), ready)

    def collect(self, member: Member, timeout: float, ready: list) -> None:
        """Pull one stream (up to ``timeout``) and stage its chunk: into ``ready`` for the batched step, or, with
        gaps inside the chunk, decoded and published here, segment by segment."""
        slot = member.slot
        if not member.running or slot.inlet is None:  # ended, or lost: housekeeping looks for the source
            return
        try:
            if (held := slot.take_held()) is not None:  # held while its new instance's check or clock was awaited
                x, ts, t_call, t0 = held
            else:
                t_call = pylsl.local_clock()
                try:
                    x, ts = slot.puller.pull(timeout)
                except LostError:
                    slot.on_lost()
                    return
                t0 = pylsl.local_clock()
                self.pool.worker_load.waited(t0 - t_call)  # a pull's time is its wait for data (copying takes µs)
                if len(ts) == 0:
                    member.arrivals.missed(t0)
                    slot.idle(t0)
                    if slot.check_pending is not None:  # a new instance found while stalled: pulled once checked
                        self.active = [m for m in self.active if m is not member]
                    return
                member.arrivals.arrived(t0)
                slot.got_data(float(ts[0]), t0, float(ts[-1]))
                if slot.hold_chunk(x, ts, t_call, t0):  # left out of the loop until the wait ends (housekeeping)
                    self.active = [m for m in self.active if m is not member]
                    return
            slot.inputs(x, ts)  # the recording, the amplitude check of an assumed unit
            decoder = slot.decoder
            xk, tsk, seq, segments = decoder.stage(x, ts)
            if len(segments) == 1 and segments[0][1] > segments[0][0]:  # the usual chunk: batched
                lo, hi, gap, first_seq = segments[0]
                if gap is not None:
                    decoder.apply_gap_policy(gap, first_seq)
                seg = decoder.guarded(xk[lo:hi], tsk[lo:hi])
                decoder.count_nonfinite()
                ready.append((member, seg, tsk, seq, len(ts), t_call, t0, pylsl.local_clock() - t0))
            else:  # gaps inside the chunk, or nothing kept: this stream alone, segment by segment
                y, t_dec, epochs = decoder.run_segments(xk, tsk, segments)
                if y is not None:
                    slot.publish(y, tsk, seq, t_dec, len(ts), t_call, t0, epochs=epochs)
        except Exception as exc:  # noqa: BLE001 - this stream's failure ends this stream only
            self.fail(member, exc)

    def housekeeping(self, now: float) -> None:
        """Control messages, each stream's commands, start-ups that finished, swaps, lost sources, status."""
        readable = {fd for fd, _ in self._pipes.poll(0)}
        try:
            while readable and self.control.poll():
                self.on_control(self.control.recv())
        except (EOFError, OSError):
            self.stop_requested = True
        if self.out.broken:
            log.error("shared worker %d: the supervisor process is gone; stopping", self.index)
            self.stop_requested = True
        elif os.getppid() != self._parent_pid and not self.stop_requested:  # the service's fork server ended (the
            # service would break the pipe); stopping already: a SIGTERM to the process group ended it too
            raise ParentGone(self.parent_gone())
        for member in list(self.members.values()):
            slot = member.slot
            try:
                if member.cmd_fd in readable:
                    slot.commands.poll()
                if member.starter is not None and not member.starter.is_alive():
                    member.starter = None
                    self.started(member)
                if member.starter is not None:
                    continue
                if slot.stopping or member.outcome is not None:
                    code, error = member.outcome or (0, None)
                    self.end(member, code)
                    continue
                if slot.commands.swap_ready:
                    slot.commands.finish_swap()
                slot.poll_reopen()  # polled: a found source's inlet is opened in a helper thread
                if slot.inlet is None:
                    slot.check_source(pylsl.local_clock())
                slot.poll_check()  # polled: a new instance's full info is read in a helper thread
                slot.poll_verify(now)  # polled: a returned instance waits for a resolve to find it (checked)
                slot.clock_pending(now)  # polled: a new instance's first data waits for its clock offset
                if slot.reporter.due(now):
                    slot.tick()
                if now >= member.next_snapshot and slot.decoder is not None:
                    member.next_snapshot = now + slot.spec.options.snapshot_interval_s
                    self.save_state(member)
            except Exception as exc:  # noqa: BLE001
                self.fail(member, exc)
        self.active = [m for m in self.members.values()
                       if m.running and m.slot.inlet is not None and m.slot.clock_wait_until is None
                       and m.slot.verify_pending is None and m.slot.check_pending is None]

    # -- streams in and out -------------------------------------------------------------------------------

    def on_control(self, message: Any) -> None:
        if isinstance(message, StopWorker):
            self.stop_requested = True
        elif isinstance(message, AddStream):
            self.add(message)
        else:
            log.warning("shared worker %d: unknown control message %r ignored", self.index, message)

    def add(self, msg: AddStream) -> None:
        """Host a decoder: its slot starts (load, resolve, connect) in a thread; :meth:`started` attaches it."""
        sender = StatusSender(msg.status_conn)
        try:
            spec = DecoderSpec.model_validate_json(msg.spec_json)
            slot = StreamSlot(msg.decoder_id, msg.generation, spec, self.models_dir, msg.cmd_conn, sender,
                              self.status_interval, msg.ring, self.recordings_dir, host=self.pool,
                              load_model=self.pool.load)
        except Exception as exc:  # noqa: BLE001 - e.g. its ring gone, or of another layout: this stream only
            code, error = describe_failure(exc)
            report_failure(msg.decoder_id, msg.generation, sender, self.status_interval, code, error,
                           {"kind": "shared", "index": self.index, "pid": os.getpid()})
            sender.close()
            msg.cmd_conn.close()
            self.out.put(StreamEnded(msg.decoder_id, msg.generation, code))
            return
        slot.status.worker = {"kind": "shared", "index": self.index, "pid": os.getpid()}
        slot.poll_checks = True  # a new instance's full info read in a helper thread: the other streams never wait
        member = Member(slot, msg.restore)
        old = self.members.pop(msg.decoder_id, None)
        if old is not None:  # the same decoder again (a newer generation): the old one goes first
            old.slot.commands.stop_requested = True
            self.end(old, 0)
        self.members[msg.decoder_id] = member
        member.cmd_fd = msg.cmd_conn.fileno()
        self._pipes.register(member.cmd_fd, select.POLLIN)
        slot.reporter.report()

        def start() -> None:
            try:
                slot.load()
                info = slot.resolve(poll_commands=False)
                if info is None:
                    member.outcome = (0, None)
                else:
                    slot.connect(info)
            except Exception as exc:  # noqa: BLE001 - reported by started() in the loop's thread
                member.outcome = describe_failure(exc)

        member.starter = threading.Thread(target=start, name=f"bci-stream-start-{msg.decoder_id}", daemon=True)
        member.starter.start()

    def started(self, member: Member) -> None:
        """In the loop's thread, after the start-up thread: attach the state (restored), or end the stream."""
        slot = member.slot
        if member.outcome is not None:
            code, error = member.outcome
            if error is not None:
                slot.reporter.set_failed(code, error)
            return  # ended by housekeeping
        if slot.stopping:
            return
        slot.attach(member.restore)
        member.running = True
        member.next_snapshot = pylsl.local_clock() + slot.spec.options.snapshot_interval_s
        slot.reporter.report()

    def fail(self, member: Member, exc: BaseException) -> None:
        """A stream's error: reported on its status, then the stream leaves the worker (the others stay)."""
        code, error = describe_failure(exc)
        member.slot.reporter.set_failed(code, error)
        if member.starter is not None:  # still starting: ended once its thread is done
            member.outcome = (code, None)
            member.slot.commands.stop_requested = True
            return
        self.end(member, code)

    def end(self, member: Member, code: int) -> None:
        """Close a stream, send its final status, close its pipes and tell the supervisor."""
        slot = member.slot
        if member.ended:
            return
        member.ended, member.running = True, False
        if self.members.get(slot.decoder_id) is member:
            del self.members[slot.decoder_id]
        self.active = [m for m in self.active if m is not member]  # a new list: a round may be iterating the old one
        try:
            slot.close()
        except Exception:  # noqa: BLE001 - closing must not take the worker down
            log.exception("decoder %s: error while closing", slot.decoder_id)
        if code == 0:
            slot.reporter.set_state("stopped")
        else:  # its last counters (a SIGTERM's end sent none: totals short of what it published, audit s70worker F2)
            slot.reporter.report()
        slot.sender.close()
        if member.cmd_fd is not None:
            self._pipes.unregister(member.cmd_fd)
            member.cmd_fd = None
        slot.commands.conn.close()
        if slot.ring is not None:  # its status sent: the ring's mapping and descriptor go now
            slot.ring.detach()
        self.out.put(StreamEnded(slot.decoder_id, slot.generation, code))

    def save_state(self, member: Member) -> None:
        decoder = member.slot.decoder
        self.out.put(SavedState(member.slot.decoder_id, member.slot.generation, decoder.card.sha256, decoder.seq,
                                decoder.state.snapshot(), decoder.guard.held()))


def run_shared(index: int, control: Connection, models_dir: str, status_interval: float,
               recordings_dir: str | None = None, log_level: str | None = None) -> None:
    """The shared worker process, once :func:`~bci_stream.service.worker_entry.shared_worker_main` (its spawn target)
    found it runs its service's code; exits with the worker's exit code."""
    configure_worker(f"shared-worker[{index}]", log_level)
    worker = SharedWorker(index, control, models_dir, status_interval, recordings_dir)
    stop_on_sigterm(lambda: setattr(worker, "stop_requested", True), lambda: worker.stop_requested)  # each stream
    # stopped in order, its file finished
    code = worker.run()
    end_if_terminated()
    raise SystemExit(code)
