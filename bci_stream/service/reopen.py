"""A stalled stream slot's reopening of its source, found again (a part of
:class:`~bci_stream.service.stalls.StallHandling`).

An inlet lost (a source without source_id, which liblsl cannot recover), or closed on a silent instance to follow a
new one, is opened again once the source monitor finds the source (a new instance: once it passed its check). The
open connects to the sender twice, for its full info and for its data, each waited for up to
:data:`OPEN_TIMEOUT_S`: about a millisecond on loopback, but the whole timeout for a sender that stopped answering
just then (a starved or stopped program, a host that dropped off the network). A dedicated worker waits in it, as at
its first connection. A shared worker opens it in a helper thread (:class:`InletOpen`, polled by
:meth:`Reopening.poll_reopen`): before, its loop waited up to twice :data:`OPEN_TIMEOUT_S`, and every other stream of
the worker with it. The slot stays ``stalled``, out of the worker's pulls, until the inlet is open, its ``stall.kind``
``opening`` (``open_since``) meanwhile: before, the status still said ``lost`` or ``silent``, nothing telling that the
source was found and waited for.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import TYPE_CHECKING

import pylsl
from pylsl.util import LostError, TimeoutError as LslTimeoutError

from bci_stream.lsl.liblsl import PULL_MAX_SAMPLES, ChunkPuller
from bci_stream.lsl.source import full_info

if TYPE_CHECKING:
    from bci_stream.core.spec import DecoderSpec
    from bci_stream.core.status import WorkerStatus
    from bci_stream.service.reporter import StatusReporter
    from bci_stream.service.source_monitor import SourceMonitor

log = logging.getLogger("bci_stream.worker")

OPEN_TIMEOUT_S = 10.0  # how long an inlet's full info, then its data stream, are each waited for, s
OPEN_REASON = ("the source was found again and its inlet is being opened (its full info, then its data stream, each "
               f"waited for up to {OPEN_TIMEOUT_S:g} s), in a helper thread (the worker's other streams decode on); "
               "the stream is decoded once it is open")


def inlet_buflen(max_buffer_s: float) -> int:
    """The ``max_buflen`` (whole seconds, at least 1) of a decoder's inlet for its ``max_buffer_s`` option."""
    return max(1, math.ceil(max_buffer_s))


def open_source(info: pylsl.StreamInfo, max_buflen: int) -> pylsl.StreamInlet:
    """A recovering inlet on ``info`` with its data stream open (closed again when that fails).

    Raises
    ------
    LostError, TimeoutError
        The instance is gone (or another stream now answers at its address: :func:`full_info`), or its sender did
        not answer within :data:`OPEN_TIMEOUT_S`.
    """
    inlet = pylsl.StreamInlet(info, max_buflen=max_buflen, recover=True)
    try:
        full_info(inlet, info, OPEN_TIMEOUT_S)  # its uid checked: not another stream now at the resolved port
        inlet.open_stream(timeout=OPEN_TIMEOUT_S)
    except BaseException:
        inlet.close_stream()
        raise
    return inlet


class InletOpen:
    """:func:`open_source` in a helper thread, for a loop that must not wait in it. :meth:`result` is None while the
    open goes on; then the open inlet, or the error it raised (raised in the caller's thread). :meth:`cancel` closes
    the inlet, now or once the thread opened it (a decoder stopped meanwhile leaves no connection behind)."""

    def __init__(self, info: pylsl.StreamInfo, max_buflen: int, checked: bool = False) -> None:
        self.info, self.checked = info, checked  # checked: a new instance that passed its check
        self._inlet: pylsl.StreamInlet | None = None
        self._error: BaseException | None = None
        self._cancelled = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._open, args=(info, max_buflen), daemon=True,
                                        name=f"bci-stream-reopen-{info.name()}")
        self._thread.start()

    def _open(self, info: pylsl.StreamInfo, max_buflen: int) -> None:
        inlet = error = None
        try:
            inlet = open_source(info, max_buflen)
        except BaseException as exc:  # noqa: BLE001 - raised again by result(), in the loop's thread
            error = exc
        with self._lock:
            if self._cancelled and inlet is not None:
                inlet.close_stream()
                inlet = None
            self._inlet, self._error = inlet, error

    def result(self) -> pylsl.StreamInlet | None:
        """The open inlet (None while the open goes on); raises what the open raised."""
        if self._thread.is_alive():
            return None
        if self._error is not None:
            raise self._error
        return self._inlet

    def cancel(self) -> None:
        """Close the inlet, now if the thread opened it already, else as soon as it has."""
        with self._lock:
            self._cancelled = True
            inlet, self._inlet = self._inlet, None
        if inlet is not None:
            inlet.close_stream()


class Reopening:
    """The reopening of a stalled slot's source (a mixin of :class:`~bci_stream.service.stalls.StallHandling`)."""

    decoder_id: str
    spec: DecoderSpec
    status: WorkerStatus
    reporter: StatusReporter
    monitor: SourceMonitor | None
    inlet: pylsl.StreamInlet | None
    puller: ChunkPuller | None
    sfreq: float
    poll_checks: bool  # a shared worker's slot: the open in a helper thread, polled
    #: the open going on in a helper thread (the shared worker), None when none
    reopen_pending: InletOpen | None = None
    #: the stall's kind and reason before the open began, said again once it ended (the source not decoded yet)
    stall_before_open: dict[str, str | None] = {"kind": "lost", "reason": "waiting for the source to come back"}

    def reopen(self, info: pylsl.StreamInfo, checked: bool = False) -> None:
        """Open an inlet on ``info``, the source found again (a lost one, or, ``checked``, a new instance that passed
        its check); one gone again meanwhile leaves it stalled and looked for. On a shared worker, in a helper thread
        (:meth:`poll_reopen`)."""
        buflen = inlet_buflen(self.spec.options.max_buffer_s)
        if self.poll_checks:
            if self.reopen_pending is not None and self.reopen_pending.info.uid() != info.uid():
                self.cancel_reopen()  # another instance to open now: the one being opened is no longer followed
            if self.reopen_pending is None:
                self.reopen_pending = InletOpen(info, buflen, checked)
                self._say_opening(True)
            return
        try:
            inlet = open_source(info, buflen)
        except (LostError, LslTimeoutError):
            self.reopen_failed(info, checked)
            return
        self.opened(inlet)

    def poll_reopen(self) -> bool:
        """Whether an open goes on in a helper thread; once it ended, the inlet is the slot's (or, the instance gone
        again, the slot stays stalled and looked for)."""
        if self.reopen_pending is None:
            return False
        try:
            inlet = self.reopen_pending.result()
        except (LostError, LslTimeoutError):
            pending, self.reopen_pending = self.reopen_pending, None
            self._say_opening(False)
            self.reopen_failed(pending.info, pending.checked)
            return False
        if inlet is None:
            return True
        self.reopen_pending = None
        self._say_opening(False)
        self.opened(inlet)
        return False

    def cancel_reopen(self) -> None:
        """An open going on is abandoned (the slot closes, or follows a newer instance): its inlet is closed."""
        if self.reopen_pending is not None:
            self.reopen_pending.cancel()
            self.reopen_pending = None
            self._say_opening(False)

    def _say_opening(self, opening: bool) -> None:
        """The stall's ``kind`` ``opening`` while an open goes on in a helper thread; its kind and reason before,
        again, once the open ended (the stream is decoded from its first data, which ends the stall)."""
        stall = self.status.stall
        if stall is None:  # not stalled (a sender back faster than stall_timeout_s), or the decoder ended in error
            return
        if opening:
            if stall.get("kind") != "opening":
                self.stall_before_open = {k: stall.get(k) for k in ("kind", "reason")}
            stall.update(kind="opening", reason=OPEN_REASON, open_since=pylsl.local_clock())
        elif stall.get("kind") == "opening":
            stall.update(self.stall_before_open, open_since=None)
        else:
            return
        self.reporter.report()

    def opened(self, inlet: pylsl.StreamInlet) -> None:
        """``inlet``, open on the source found again, is the slot's: pulled from the next wake-up on (after the rows
        the previous inlet's puller held back, if any: :class:`~bci_stream.lsl.liblsl.ChunkPuller`'s ``follows``)."""
        self.inlet = inlet
        self.monitor.follow(inlet, 0.0)
        self.puller = ChunkPuller(inlet, PULL_MAX_SAMPLES, self.sfreq, follows=self.puller)

    def reopen_failed(self, info: pylsl.StreamInfo, checked: bool) -> None:
        # gone again since it was resolved (or a resolver's stale entry of the instance just lost): still stalled and
        # looked for, as at any other time; not a crash. A stale entry of the instance that was decoded says nothing
        # new (it was logged three times after every such loss: audit s42). A new instance that passed its check is
        # no stale entry (its uid is the status's since its check), and is looked for again at once, not after backoff
        if checked:
            self.monitor.look_now()
        stale = not checked and info.uid() == (self.status.stream or {}).get("uid")
        (log.debug if stale else log.warning)(
            "decoder %s: %s went away before its inlet opened; looking for it again%s", self.decoder_id,
            info.name(), " (a stale resolver entry of the instance that was lost)" if stale else "")
