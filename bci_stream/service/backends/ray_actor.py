"""The worker inside a Ray actor: one decoder, on the node Ray placed it on, wired back to the supervisor.

:class:`WorkerHost` runs in the actor that :mod:`~bci_stream.service.backends.ray_backend` makes at run time (nothing
here imports Ray), once the actor's body (:class:`~bci_stream.service.worker_entry.StampedWorkerHost`) found that
this node runs the service's code. Its :meth:`WorkerHost.start` opens four ``multiprocessing.connection``
Clients to the supervisor's Listener (TCP, authenticated with the supervisor's key; each says which decoder
and role it is): ``control`` (state snapshots), ``cmd`` (commands and replies), ``status`` (status
snapshots) and ``outputs`` (decoded rows for the API's output ring). The decoder runs in a thread of the actor
process as a one-stream :class:`~bci_stream.service.shared_worker.SharedWorker`: the same slot code as a local
worker, with its periodic state snapshots, so after a node loss the supervisor restarts it elsewhere from its
last state. Samples stay on LSL on this node: LSL in, decode, LSL out. Only the API's copy of the outputs
travels to the supervisor, from a relay thread every :data:`RELAY_INTERVAL_S`, never from the decoding loop.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from bci_stream.core.log_setup import configure_worker
from bci_stream.lsl.log_config import quiet_liblsl_log
from bci_stream.service.model_pin import sweep_stale, write_pinned
from bci_stream.service.pool_messages import AddStream, SavedState
from bci_stream.service.ring import OutputRing
from bci_stream.service.shared_worker import SharedWorker
from bci_stream.service.worker_entry import NODE_GONE, ROLES, connect_back

log = logging.getLogger("bci_stream.worker")

RELAY_INTERVAL_S = 0.02
#: The actor's own ring holds this many times the API's, and at least :data:`RELAY_MIN_ROWS`: a burst larger than the
#: API's ring reaches it whole, where its writes drop the oldest rows and every reader counts them (``dropped``), as a
#: local worker's ring does. Before, the relay lost them in the actor's ring of the API's size, and WebSocket clients
#: saw holes in ``seq`` with ``dropped`` 0, as rejected samples (audit s70ray F1); with 4 times a ring of 25 rows, a
#: relay that lagged one 100-row chunk on a loaded machine still did (CI rehearsal, session 70).
RELAY_RING_FACTOR = 4
RELAY_MIN_ROWS = 2**16  #: 33 s at 2 kHz of relay lag (a few MB)


class OneStreamWorker(SharedWorker):
    """A shared worker that hosts one decoder and ends with it; :attr:`code` is that stream's exit code."""

    code: int | None = None
    where: dict[str, Any] | None = None

    def add(self, msg: AddStream) -> None:
        super().add(msg)
        member = self.members[msg.decoder_id]
        member.slot.status.worker = dict(self.where or {})  # status 'worker': this actor, its node
        member.slot.reporter.report()

    def parent_gone(self) -> str:
        """An actor's parent is its node's raylet: it ends when the node goes down (or Ray is stopped there)."""
        where = self.where or {}
        return (f"ray actor of pid {os.getpid()} on node {where.get('node_id')} ({where.get('hostname')}): its parent "
                f"process {self._parent_pid}{NODE_GONE}: the node went down or Ray was stopped "
                "there; the decoder is restarted on a node that meets its placement")

    def end(self, member: Any, code: int) -> None:
        super().end(member, code)
        if self.code is None:
            self.code = code
        self.stop_requested = True


class OutputRelay(threading.Thread):
    """Sends the rows the decoder writes into the actor's own ring to the supervisor (batched, off the hot loop)."""

    def __init__(self, ring: OutputRing, conn: Connection) -> None:
        super().__init__(name="bci-stream-output-relay", daemon=True)
        self.ring, self.reader = ring, ring.reader()
        self.conn = conn
        self.halt = threading.Event()
        self.unsettled: tuple[float, int] | None = ring.unsettled()  # as last sent (a seed's: the API's ring has it)

    def run(self) -> None:
        try:
            while not self.halt.wait(RELAY_INTERVAL_S):
                self.flush()
            self.flush()
        except (OSError, BrokenPipeError, ValueError):  # the supervisor is gone: decoding goes on without the copy
            pass
        finally:
            self.conn.close()

    def flush(self) -> None:
        """The rows written since the last flush, then where the loss accounting stands (``[since, first_seq]``,
        ``first_seq`` -1: all accounted for; :mod:`~bci_stream.service.unsettled`), in one message."""
        unsettled = self.ring.unsettled()  # (ahead of the rows sent, it names a seq after them: resume_gaps ignores it)
        lost = self.reader.dropped
        rows = self.reader.read()
        if self.reader.dropped > lost:  # a burst over RELAY_RING_FACTOR times the API's ring: not sent, said
            log.warning("%d decoded rows were overwritten in the Ray actor's output ring before they were relayed to "
                        "the API: WebSocket clients miss them", self.reader.dropped - lost)
        if len(rows) or unsettled != self.unsettled:
            self.unsettled = unsettled
            trailer = np.array([0.0, -1.0] if unsettled is None else unsettled, dtype=np.float64)
            self.conn.send_bytes(np.ascontiguousarray(rows).tobytes() + trailer.tobytes())


def seed_ring(ring: OutputRing, seed: tuple) -> None:
    """A restarted actor's own ring, from what the API's ring held of the last one: its last output (the restarted
    slot's gap and seq start there, its epoch goes on from it) and where its loss accounting stood, or, no output
    yet, the stamp after which input is owed."""
    seq, ts, epoch, consumers, unsettled = seed
    if seq is None:
        ring.note_owed_after(ts)
        return
    ring.write(np.array([seq], dtype=np.float64), np.array([ts]), epoch, np.full((1, ring.n_outputs), np.nan))
    ring.note_provenance_sent(ring.head)  # a seed, not a row of the last actor's: no provenance to send
    if isinstance(consumers, bool):  # what the last actor saw of its outlet's LSL consumers
        ring.note_consumers(consumers)
    if unsettled is not None:
        ring.note_unsettled(*unsettled)


class WorkerHost:
    """Body of the Ray actor of one decoder (see the module docstring).

    Parameters
    ----------
    address, authkey, token
        The supervisor's Listener, its key, and this worker's token (sent first on each connection).
    decoder_id, generation, spec_json, models_dir, status_interval, recordings_dir
        As for a local worker (the models and recordings folders must exist on this node).
    restore
        The fields of the state snapshot to resume from (a :class:`SavedState`, after a restart), or None.
    ring_shape
        ``(capacity, n_outputs)`` of the API's output ring, or None (no output copy).
    seed
        ``(seq, timestamp, state_epoch, consumers, unsettled)`` of the last output the API received (a restart counts
        its gap from there, or from ``unsettled``, the API ring's :meth:`~OutputRing.unsettled`, and its epoch goes on
        from it; it waits for LSL consumers only if ``consumers``, the last status's ``output_stream.consumers``, is
        not False), or None (:func:`seed_ring`).
    pinned
        The files of the decoder's own copy of its model (:func:`~bci_stream.service.model_pin.pinned_files`),
        written to this node's copy before the worker loads it, or None.
    log_level
        The service's log level (setting ``log_level``), or None (``BCI_STREAM_LOG_LEVEL`` of this process, else
        INFO): the actor's process is started by its node, which does not have the service's environment.
    """

    def __init__(self, address: tuple[str, int], authkey: bytes, token: str, decoder_id: str, generation: int,
                 spec_json: str, models_dir: str, status_interval: float, recordings_dir: str | None,
                 restore: dict[str, Any] | None = None, ring_shape: tuple[int, int] | None = None,
                 seed: tuple[int | None, float, int | None, bool | None, tuple[float, int] | None] | None = None,
                 pinned: dict[str, bytes] | None = None, log_level: str | None = None) -> None:
        self.address, self.authkey, self.token = tuple(address), authkey, token
        self.decoder_id, self.generation, self.spec_json = decoder_id, generation, spec_json
        self.models_dir, self.status_interval, self.recordings_dir = models_dir, status_interval, recordings_dir
        self.restore = None if restore is None else SavedState(**restore)
        self.ring_shape, self.seed, self.pinned, self.log_level = ring_shape, seed, pinned, log_level
        self.worker: OneStreamWorker | None = None
        self.relay: OutputRelay | None = None
        self.thread: threading.Thread | None = None
        self.code: int | None = None

    def start(self, where: dict[str, Any]) -> dict[str, Any]:
        """Connect back to the supervisor and start decoding in a thread; returns ``where`` this worker runs (the
        status ``worker``: ``kind``, ``pid``, ``node_id``, ``hostname``)."""
        quiet_liblsl_log()  # as the service's own processes: liblsl's INFO lines off unless the node configured liblsl
        configure_worker(f"ray-decoder[{self.decoder_id}]", self.log_level)  # the service's level (before: INFO)
        if self.pinned is not None:
            sweep_stale()  # no supervisor starts on this node to remove the copies of actors that ended (killed)
            write_pinned(self.decoder_id, self.pinned)
        conns = {role: connect_back(self.address, self.authkey, self.token, role) for role in ROLES}
        ring = None
        if self.ring_shape is not None:
            capacity, n_outputs = self.ring_shape
            ring = OutputRing.create(mp.get_context("spawn"), max(RELAY_RING_FACTOR * capacity, RELAY_MIN_ROWS),
                                     n_outputs)
            if self.seed is not None:
                seed_ring(ring, self.seed)
            self.relay = OutputRelay(ring, conns["outputs"])
            self.relay.start()
        else:
            conns["outputs"].close()
        worker = OneStreamWorker(0, conns["control"], self.models_dir, self.status_interval, self.recordings_dir)
        worker.where = where
        self.worker = worker
        worker.add(AddStream(self.decoder_id, self.generation, self.spec_json, conns["cmd"], conns["status"],
                             None if ring is None else ring.handles, self.restore))
        self.thread = threading.Thread(target=self.run, name=f"bci-stream-ray-worker-{self.decoder_id}", daemon=True)
        self.thread.start()
        return where

    def run(self) -> None:
        try:
            self.worker.run()
            self.code = self.worker.code if self.worker.code is not None else 0
        except Exception:  # noqa: BLE001 - the worker's own crash: its exit code, like a local process's
            log.error("decoder %s: worker crashed:\n%s", self.decoder_id, traceback.format_exc(limit=8))
            self.code = 1
        finally:
            if self.relay is not None:
                self.relay.halt.set()
                self.relay.join(2.0)
            self.worker.control.close()

    def wait(self) -> int:
        """Block until the decoder ends; its exit code (0 stopped, 3 refused, 4 model unavailable now, 1 crashed)."""
        if self.thread is not None:
            self.thread.join()
        return 1 if self.code is None else self.code
