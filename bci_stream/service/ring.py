"""Fan-out of decoded outputs from a worker process to HTTP/WebSocket clients, never blocking the worker.

The worker writes every output row into a ring buffer in shared memory (a ``multiprocessing`` ``RawArray``, created
by the supervisor and handed to each worker generation); readers in the API process each keep their own cursor.
Writing is a ``memcpy`` and two integer stores: no lock, no queue, no system call, so a slow or stalled reader cannot
slow the hot loop down. A reader that falls more than ``capacity`` rows behind loses the oldest rows (drop-oldest);
they are counted.

A seqlock-style pair of counters keeps a reader from returning a row mixed from two writes: the writer
stores ``pending`` (the head after this write) *before* it overwrites any slot, and ``head`` after the rows
are in place. A reader copies rows below ``head``, then reads ``pending``: a row at position ``q`` may have
been overwritten during the copy only if ``pending > q + capacity``; such rows are dropped (counted).

Row layout (float64): ``[seq, timestamp, state_epoch, y_0 … y_{K-1}]``. Header (int64, :data:`HEADER`): ``[head,
pending, CONSUMERS_* of the decoded outlet, provenance flushed up to, CONSUMERS_* of the provenance outlet, highest seq
reserved, seq up to which a missing provenance was reported, the input stamp after which samples are owed, and, while
a suspected loss is still judged, the stamp before it and the first seq after it]``: what a worker generation leaves
for the next one (the ring outlives it). The provenance mark is the head up to which the rows' provenance was sent on
LSL (provenance is batched): a worker killed with rows still queued leaves ``[mark, head)``, which the next generation
sends before its first output (:mod:`~bci_stream.service.provenance_replay`). A write stores the seq of its last row
before it announces (``pending``) or overwrites anything, so the next generation numbers its rows after those of a
write a kill cut short (they went out on LSL already: :meth:`OutputRing.last_seq`).

Markers (cues) are few and arrive with the status snapshots instead: :class:`MarkerFeed` gives each
WebSocket client the markers it has not seen yet.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from bci_stream.core.errors import BciStreamError

N_META = 3  # seq, timestamp, state_epoch
#: int64s before the rows: head, pending, CONSUMERS_* (decoded), provenance sent up to, CONSUMERS_* (provenance),
#: highest seq reserved (the last row's seq of the newest write, stored before it touches anything else), seq up to
#: which rows reserved but never written were reported (``provenance_missing``, so a later generation does not again),
#: the input stamp after which samples are owed, kept before any row (float64 bits; 0: not noted); unsettled's two
HEADER = 10
HEADER_BYTES = 8 * HEADER
#: What the last worker generation saw of its decoded outlet's LSL consumers (a restart waits for them only if any).
CONSUMERS_UNKNOWN, CONSUMERS_NONE, CONSUMERS_SOME = 0, 1, 2


@dataclass
class RingHandles:
    """The picklable shared objects of a ring (passed to a worker process at spawn)."""

    data: Any  # RawArray('d', capacity * width)
    head: Any  # RawArray('q', HEADER): see HEADER
    capacity: int
    width: int


@dataclass
class NamedRingHandles:
    """A ring in a named shared-memory block (picklable at any time: sent to a running shared worker)."""

    name: str
    capacity: int
    width: int


class RingGoneError(BciStreamError):
    """A named ring freed before a worker attached it: its decoder was stopped (DELETE) while it started. A refusal
    of that one stream, said in words (before: a shared worker reported it as a crash with a traceback)."""


class OutputRing:
    """Single-writer, many-reader ring of output rows over shared memory.

    Parameters
    ----------
    handles
        The shared arrays, from :meth:`create` (inherited at spawn), or a named block from
        :meth:`create_named` (attached by name: for a worker that is already running).
    """

    def __init__(self, handles: RingHandles | NamedRingHandles) -> None:
        self.handles = handles
        self.capacity, self.width = handles.capacity, handles.width
        self._shm = None
        self._readers = threading.Lock()  # held by a read in this process; :meth:`close` waits for it
        self.closed = False
        if isinstance(handles, NamedRingHandles):
            from multiprocessing.shared_memory import SharedMemory

            try:
                self._shm = shm = SharedMemory(name=handles.name)
            except FileNotFoundError:
                raise RingGoneError(f"output ring {handles.name} is gone: its decoder was stopped before this worker "
                                    "attached it (nothing left to decode for)") from None
            self._head = np.ndarray((HEADER,), dtype=np.int64, buffer=shm.buf)
            self._rows = np.ndarray((self.capacity, self.width), dtype=np.float64, buffer=shm.buf,
                                    offset=HEADER_BYTES)
        else:
            self._rows = np.frombuffer(handles.data, dtype=np.float64).reshape(self.capacity, self.width)
            self._head = np.frombuffer(handles.head, dtype=np.int64)

    @classmethod
    def create_named(cls, capacity: int, n_outputs: int) -> OutputRing:
        """A new ring in a named shared-memory block (:meth:`unlink` it when done)."""
        from multiprocessing.shared_memory import SharedMemory

        if capacity < 1:
            raise ValueError(f"capacity must be >= 1 row, got {capacity}")
        if n_outputs < 1:
            raise ValueError(f"n_outputs must be >= 1, got {n_outputs}")
        width = N_META + n_outputs
        shm = SharedMemory(create=True, size=HEADER_BYTES + 8 * capacity * width)
        shm.buf[:HEADER_BYTES] = bytes(HEADER_BYTES)
        ring = cls(NamedRingHandles(shm.name, capacity, width))
        shm.close()  # the ring attached its own handle
        return ring

    def unlink(self) -> None:
        """Free a named block (the creator, once no worker writes to it); nothing for an inherited ring, or one
        already freed (a decoder stopped while its start failed frees it twice)."""
        if self._shm is not None:
            try:
                self._shm.unlink()
            except FileNotFoundError:
                pass

    def detach(self) -> None:
        """Let go of a named block this process attached (a shared worker whose stream ended): its mapping and file
        descriptor go now, not when a full collection frees the stream's objects. The ring is not used after."""
        if self._shm is not None:
            self._head = self._rows = None  # type: ignore[assignment]  # views on the block: close() refuses them
            with contextlib.suppress(BufferError):  # a view still held elsewhere: freed with it
                self._shm.close()
            self._shm = None

    def close(self) -> None:
        """Let go of this process's handle of a named block (the API's, once its decoder is freed), its descriptor and
        mapping now, not at a later full collection (before: the API held the blocks of deleted decoders, unlinked
        but still allocated). A read under way ends first; readers after it read no rows (:attr:`closed`).
        Idempotent; nothing for an inherited ring.

        What the ring says of its end still answers after it (a final status, a late poll): the header is kept as a
        copy, and every row reads as the newest one (one row's memory, not the block's).
        """
        if self._shm is None:
            return
        with self._readers:
            self.closed = True
            head = self._head.copy()
            newest = self._rows[(int(head[0]) - 1) % self.capacity].copy()
            shm, self._shm = self._shm, None
            self._head, self._rows = head, np.broadcast_to(newest, (self.capacity, self.width))  # before the close
            with contextlib.suppress(BufferError):  # a view still held elsewhere: freed with it
                shm.close()

    @classmethod
    def create(cls, ctx: Any, capacity: int, n_outputs: int) -> OutputRing:
        """A new ring for ``n_outputs`` outputs holding ``capacity`` rows (``ctx``: a multiprocessing context)."""
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1 row, got {capacity}")
        if n_outputs < 1:
            raise ValueError(f"n_outputs must be >= 1, got {n_outputs}")
        width = N_META + n_outputs
        handles = RingHandles(ctx.RawArray("d", capacity * width), ctx.RawArray("q", HEADER), capacity, width)
        return cls(handles)

    @property
    def n_outputs(self) -> int:
        return self.width - N_META

    @property
    def head(self) -> int:
        """Rows written since the ring was created."""
        return int(self._head[0])

    @property
    def pending(self) -> int:
        """Rows written or being written (>= :attr:`head`; stored before the writer touches a slot)."""
        return int(self._head[1])

    def note_consumers(self, have: bool, provenance: bool | None = None) -> None:
        """The writer's decoded outlet has LSL consumers now (``have``), and its provenance outlet (``provenance``;
        None: no provenance outlet), for its next generation to read."""
        self._head[2] = CONSUMERS_SOME if have else CONSUMERS_NONE
        if provenance is not None:
            self._head[4] = CONSUMERS_SOME if provenance else CONSUMERS_NONE

    def had_provenance_consumers(self) -> bool | None:
        """Whether the last writer's provenance outlet had LSL consumers when it last noted it; None: never noted."""
        flag = int(self._head[4])
        return None if flag == CONSUMERS_UNKNOWN else flag == CONSUMERS_SOME

    def note_provenance_sent(self, upto: int) -> None:
        """The provenance of every row below ``upto`` (a :attr:`head`) was sent on LSL (the writer, after a flush)."""
        self._head[3] = upto

    @property
    def provenance_sent(self) -> int:
        """The head up to which the rows' provenance was sent (:meth:`note_provenance_sent`)."""
        return int(self._head[3])

    def unsent_provenance(self) -> tuple[np.ndarray, int]:
        """The ``[seq, timestamp, state_epoch]`` of the rows whose provenance was not sent (from the provenance mark
        to the head, oldest first; a copy), and how many more there were that the ring no longer holds (overwritten:
        older than its capacity, or slots a write cut short was overwriting, or the rows of that write). For a
        writer's next generation, before it writes: nothing writes meanwhile."""
        head = self.head
        oldest = max(self.provenance_sent, self.pending - self.capacity, 0)
        start = min(oldest, head)
        idx = np.arange(start, head) % self.capacity
        cut_short = max(0, self.pending - head)  # a write cut short: its rows were pushed on LSL, not in the ring
        return self._rows[idx, :N_META].copy(), start - min(self.provenance_sent, head) + cut_short

    def had_consumers(self) -> bool | None:
        """Whether the last writer's decoded outlet had LSL consumers when it last noted it; None: never noted."""
        flag = int(self._head[2])
        return None if flag == CONSUMERS_UNKNOWN else flag == CONSUMERS_SOME

    def last_timestamp(self) -> float | None:
        """Timestamp of the newest row (for any worker generation), or None before the first row."""
        head = self.head
        return None if head == 0 else float(self._rows[(head - 1) % self.capacity, 1])

    def note_owed_after(self, t: float, floor: float | None = None) -> None:
        """Input samples stamped after ``t`` (this host's LSL clock) are owed an output or a count as lost (while the
        ring holds no row), only forward; with ``floor`` (the last generation's mark) back too, to no less than it:
        ``t`` is pulled, exact, and replaces an estimate (:mod:`~bci_stream.service.owed_mark`)."""
        if self.head == 0 and t > 0 and (floor is not None or self._head[7] == 0 or t > self.owed_after()):
            self._head[7] = np.float64(max(t, floor or 0.0)).view(np.int64)

    def owed_after(self) -> float | None:
        """:meth:`note_owed_after`'s latest ``t``, or None (not noted)."""
        bits = int(self._head[7])
        return None if bits == 0 else float(np.int64(bits).view(np.float64))

    def note_unsettled(self, since: float | None, first_seq: int = 0) -> None:
        """A suspected loss is still judged (:mod:`~bci_stream.service.unsettled`): the input samples up to stamp
        ``since`` (this host's clock) are accounted for, from seq ``first_seq`` on not yet; None: all are."""
        self._head[8], self._head[9] = (0, 0) if since is None else (np.float64(since).view(np.int64), first_seq + 1)

    def unsettled(self) -> tuple[float, int] | None:
        """:meth:`note_unsettled`'s ``(since, first_seq)`` as the last writer left it, or None: all accounted for."""
        first = int(self._head[9])
        return None if first == 0 else (float(np.int64(self._head[8]).view(np.float64)), first - 1)

    def last_seq(self) -> int | None:
        """The highest sequence number any write reserved, or None before the first write: the newest row's, or the
        last row's of a write a kill cut short (its rows went out on LSL before it began, so a restarted worker
        numbering from here on never gives one seq to two samples; the cut-short rows' provenance is counted
        unrecoverable, :meth:`unsent_provenance`)."""
        reserved = int(self._head[5])
        return None if reserved == 0 else reserved - 1

    def unwritten_seq(self) -> tuple[int, int] | None:
        """The seq range ``(first, last)`` the last writer reserved but never wrote, or None: a kill after
        :meth:`reserve` and before :meth:`write` began (its rows may have gone out on LSL: after the push, or not:
        before it; rejected samples leave holes, so ``last - first + 1`` is an upper bound on the rows). Their
        provenance is nowhere. A write a kill cut short is not this (its rows are counted by
        :meth:`unsent_provenance`)."""
        reserved, head = self.last_seq(), self.head
        if reserved is None or self.pending != head:
            return None
        newest = int(self._rows[(head - 1) % self.capacity, 0]) if head else -1
        first = max(newest + 1, int(self._head[6]))  # after what an earlier generation reported already
        return (first, reserved) if reserved >= first else None

    def note_missing_reported(self, last: int) -> None:
        """The rows reserved but never written, up to seq ``last``, were reported (:meth:`unwritten_seq` leaves
        them out from now on: a generation that dies before it writes a row does not make its successor report
        them again)."""
        self._head[6] = last + 1

    def last_state_epoch(self) -> int | None:
        """State epoch of the newest row, or None before the first row."""
        head = self.head
        return None if head == 0 else int(self._rows[(head - 1) % self.capacity, 2])

    # -- writer (worker process) -----------------------------------------------------------------

    def reserve(self, seq: int) -> None:
        """Note that rows up to sequence number ``seq`` go out (call it before they are pushed on LSL): a restarted
        worker numbers after it (:meth:`last_seq`) even if the kill came before :meth:`write`. Stored as
        ``seq + 1`` (0: nothing reserved yet, as a new ring's zeroed header says)."""
        self._head[5] = max(int(self._head[5]), seq + 1)

    def write(self, seq: np.ndarray, timestamps: np.ndarray, state_epoch: int | np.ndarray, y: np.ndarray) -> None:
        """Append ``len(y)`` rows: input sequence numbers, timestamps, the state epoch (one, or one per row),
        outputs."""
        n = len(y)
        if n == 0:
            return
        scalar = np.ndim(state_epoch) == 0  # one epoch for every row: stored without building an array
        epochs = None if scalar else np.asarray(state_epoch, dtype=np.float64)
        head = int(self._head[0])
        total = head + n
        self.reserve(int(seq[-1]))  # first: a kill from here on leaves the next generation numbering after it
        self._head[1] = total  # pending: before any slot is overwritten (readers drop what it may touch)
        if n > self.capacity:  # only the newest rows can be kept anyway
            skip = n - self.capacity
            seq, timestamps, y = seq[skip:], timestamps[skip:], y[skip:]
            epochs = None if epochs is None else epochs[skip:]
            head += skip
            n = self.capacity
        start = head % self.capacity
        first = min(n, self.capacity - start)
        for dst, lo, hi in ((slice(start, start + first), 0, first), (slice(0, n - first), first, n)):
            if hi > lo:
                rows = self._rows[dst]
                rows[:, 0] = seq[lo:hi]
                rows[:, 1] = timestamps[lo:hi]
                rows[:, 2] = state_epoch if epochs is None else epochs[lo:hi]
                rows[:, N_META:] = y[lo:hi]
        self._head[0] = total  # publish after the rows are in place

    # -- readers (API process) -------------------------------------------------------------------

    def reader(self, from_now: bool = True) -> RingReader:
        """A new reader; by default it starts at the current head (only new rows). A reader of a closed ring
        (:meth:`close`) reads no rows."""
        with self._readers:
            if self.closed:
                return RingReader(self, 0)
            return RingReader(self, self.head if from_now else max(0, self.head - self.capacity))


class RingReader:
    """One consumer's cursor into an :class:`OutputRing`. Not thread-safe; one per client."""

    def __init__(self, ring: OutputRing, cursor: int) -> None:
        self.ring = ring
        self.cursor = cursor
        self.dropped = 0

    def read(self, max_rows: int | None = None) -> np.ndarray:
        """Rows written since the last read, oldest first (``[n, width]`` copy).

        Rows the writer overwrote before they were read are skipped and counted in :attr:`dropped`. No rows once the
        ring is closed (:meth:`OutputRing.close`: its decoder was deleted; a read under way finishes first).
        """
        with self.ring._readers:
            if self.ring.closed:
                return np.empty((0, self.ring.width))
            return self._read(max_rows)

    def _read(self, max_rows: int | None) -> np.ndarray:
        ring = self.ring
        head = ring.head
        if ring.pending < self.cursor:  # the ring was replaced by a newer one (cannot happen for one ring)
            self.cursor = head
        oldest = head - ring.capacity
        if self.cursor < oldest:
            self.dropped += oldest - self.cursor
            self.cursor = oldest
        end = head if max_rows is None else min(head, self.cursor + max_rows)
        idx = np.arange(self.cursor, end) % ring.capacity
        rows = ring._rows[idx]  # fancy indexing copies
        # the writer may have lapped us while we copied: drop the rows whose slots it wrote or is writing
        # (``pending`` is stored before a slot is touched, so a row it does not cover was copied whole)
        lapped = ring.pending - ring.capacity - self.cursor
        if lapped > 0:
            rows = rows[lapped:]
            self.dropped += lapped
            self.cursor += lapped
        self.cursor += len(rows)
        return rows


class MarkerFeed:
    """One WebSocket client's cursor over the markers a worker reports in its status (``markers.recent``:
    ``[index, value, timestamp, class]``, the newest :data:`~bci_stream.service.markers.RECENT`).

    Markers are few (cues), so they travel in the status snapshots rather than in shared memory; a client
    gets each marker once, in order, from the snapshot after it arrived. Markers that left ``recent``
    before the client saw them are counted in :attr:`dropped`. Starts after the newest marker reported
    when created (only new markers), and starts afresh with a restarted worker (``markers.generation``), which
    numbers its markers from 0 again (its first ones, recovered or new, may already be past the old cursor).
    """

    def __init__(self, markers: dict[str, Any] | None) -> None:
        recent = (markers or {}).get("recent") or []
        self.cursor = int(recent[-1][0]) if recent else -1
        self.generation = (markers or {}).get("generation")
        self.dropped = 0

    def read(self, markers: dict[str, Any] | None) -> list[list[Any]]:
        """The markers reported since the last call, oldest first."""
        generation = (markers or {}).get("generation")
        recent = (markers or {}).get("recent") or []
        if not recent:
            return []
        if generation != self.generation or int(recent[-1][0]) < self.cursor:  # a new worker generation
            self.cursor, self.generation = -1, generation
        new = [m for m in recent if int(m[0]) > self.cursor]
        if new:
            self.dropped += max(0, int(new[0][0]) - self.cursor - 1)
            self.cursor = int(new[-1][0])
        return new
