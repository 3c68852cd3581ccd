"""The supervisor's witness of marker streams: the cues a restarting worker could not receive.

A decoder's marker follower lives in its worker (:mod:`~bci_stream.service.markers`): markers pushed while that
worker is dead or restarting are never received by the next one (a new LSL inlet gets only what is pushed after it
opens). The witness lives in the supervisor's process, which outlives the workers. Once a decoder's worker reports its
marker stream connected (status ``markers.stream``), the witness follows that same stream (its ``source_id``, else
its ``uid``; one :class:`~bci_stream.service.markers.MarkerFollower` per stream however many decoders follow it) and
keeps its markers of the last :data:`KEEP_S` seconds. When a restarted worker reports ``markers.unfollowed = {from,
to}``, the witness sends it the markers of that window once (:class:`~bci_stream.core.messages.RecoverMarkers` on
its command pipe, dedicated or shared worker alike); the worker takes them as received, dropping those its own
follower got too (:meth:`~bci_stream.service.markers.MarkerHub.recover`), and says how many in
``markers.unfollowed.recovered``. Markers the crashed generation reported in its last status (``markers.recent``)
are not sent again.

A marker the witness did not receive either (pushed before it connected, while the stream itself was gone, or in a
window longer than :data:`KEEP_S`) stays missing, counted in the window as before. The witness stops following a
stream (its inlet closes, its markers go) when no decoder that follows it may report again: each is stopped, or left
in a final state (:func:`~bci_stream.service.restart_policy.final`: ``error`` with no restart coming, or its worker
ended cleanly), noticed within a monitor pass (:meth:`MarkerWitness.tick`). A decoder that reports its stream
connected again is followed again. Followers are drained on every pass, statuses or not, into at most
:data:`MAX_KEPT` markers of the last :data:`KEEP_S` seconds. The 0s of an irregular one-channel numeric stream are
kept (``MarkerFollower(zero=True)``): a decoder whose scoring map names ``"0"`` takes them as cues, the others drop
them (:meth:`~bci_stream.service.markers.MarkerHub.recover`).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pylsl

from bci_stream.core.messages import Command, RecoverMarkers
from bci_stream.lsl.source import TimeCorrection, build_predicate
from bci_stream.service.markers import MarkerFollower
from bci_stream.service.restart_policy import final

log = logging.getLogger("bci_stream.markers")

#: Seconds of markers kept. A window without a follower lasts a restart's backoff (at most 30 s,
#: :func:`~bci_stream.service.backends.starts.restart_delay`) plus the new worker's start (model load, stream
#: resolve, consumers' wait, marker inlet and clock offset: seconds); four times the longest backoff covers both,
#: and the window is reported a status interval after it closes.
KEEP_S = 120.0
MAX_KEPT = 100_000  #: markers kept at most, however fast the stream (a trigger channel at a high rate)
SAME_S = 1e-3  #: a marker of the crashed generation's status at this close a time (same value) is the same marker


def stream_predicate(stream: dict[str, Any]) -> str:
    """The LSL predicate of a worker's marker stream (status ``markers.stream``): its source_id (and name, host),
    which a restarted sender keeps, else its uid."""
    if stream.get("source_id"):
        return build_predicate(stream.get("name"), None, stream["source_id"], stream.get("hostname"))
    return f"uid='{stream['uid']}'"


@dataclass
class _Followed:
    """One witnessed stream: its follower, the decoders that follow it, its recent markers ``(t, value, ts)``
    (``t`` this host's clock, ``ts`` the stream's own timestamp)."""

    follower: MarkerFollower
    decoders: set[str] = field(default_factory=set)
    markers: collections.deque = field(default_factory=lambda: collections.deque(maxlen=MAX_KEPT))


class MarkerWitness:
    """Follows the decoders' marker streams in the supervisor's process (see the module docstring).

    Parameters
    ----------
    send
        ``send(decoder_id, command) -> bool``: the supervisor's command pipe to a decoder's live worker (False: none).
    keep_s
        Seconds of markers kept per stream.
    """

    def __init__(self, send: Callable[[str, Command], bool], keep_s: float = KEEP_S) -> None:
        self.send = send
        self.keep_s = keep_s
        self._followed: dict[str, _Followed] = {}  # by predicate
        self._of: dict[str, str] = {}  # decoder id -> the predicate of its marker stream
        self._answered: set[tuple[str, int]] = set()  # (decoder id, generation) sent its window
        self._lock = threading.Lock()

    def saw(self, handle: Any) -> None:
        """``handle`` took a status snapshot of its worker (:attr:`status`): follow its marker stream; answer its
        unfollowed window once per generation."""
        markers, generation = handle.status.markers or {}, handle.generation
        stream = markers.get("stream")
        if not stream:
            return
        predicate = stream_predicate(stream)
        with self._lock:
            if handle.stopping or final(handle):  # forget() comes (came) under this lock; tick() forgot it
                return
            self._follow(handle.id, predicate, handle.spec.options.time_correction)
            for followed in self._followed.values():
                self._drain(followed)
            window = markers.get("unfollowed")
            if window is None or "recovered" in window or (handle.id, generation) in self._answered:
                return
            found = self._window(self._followed[predicate], window, markers.get("clock_offset") or 0.0,
                                 handle.ended_status)
        if self.send(handle.id, RecoverMarkers(markers=found)):
            log.info("decoder %s: %d marker(s) of its unfollowed window sent from the witness", handle.id, len(found))
            with self._lock:
                self._answered.add((handle.id, generation))

    def following(self, decoder_id: str) -> str | None:
        """The state of the witness's follower of ``decoder_id``'s marker stream (``connected``...), None: none."""
        with self._lock:
            followed = self._followed.get(self._of.get(decoder_id, ""))
            return None if followed is None else followed.follower.state

    def forget(self, decoder_id: str) -> None:
        """A decoder stopped: its stream is no longer followed once no other decoder follows it."""
        with self._lock:
            self._forget(decoder_id)

    def tick(self, handles: Iterable[Any]) -> None:
        """Once per supervisor monitor pass, statuses or not: forget the decoders of ``handles`` left in a final state
        (no worker of theirs will report, nor need a window answered), then take what every follower pulled."""
        done = [h.id for h in handles if final(h)]
        with self._lock:
            for decoder_id in done:
                if decoder_id in self._of:
                    log.info("decoder %s: no restart is coming; its marker stream is not witnessed for it", decoder_id)
                    self._forget(decoder_id)
            for followed in self._followed.values():
                self._drain(followed)

    def _forget(self, decoder_id: str) -> None:
        predicate = self._of.pop(decoder_id, None)
        self._answered = {a for a in self._answered if a[0] != decoder_id}
        self._release(decoder_id, predicate)

    def _follow(self, decoder_id: str, predicate: str, time_correction: TimeCorrection) -> None:
        before = self._of.get(decoder_id)
        if before == predicate:
            return
        self._release(decoder_id, before)  # its worker follows another stream now
        self._of[decoder_id] = predicate
        if predicate not in self._followed:
            # zero: a numeric 0 is kept for the decoders whose map names "0"; the others' hubs drop it (recover)
            follower = MarkerFollower(predicate, time_correction, max_queued=MAX_KEPT, zero=True)  # drained every pass
            follower.name = "bci-stream-marker-witness"
            follower.start()
            self._followed[predicate] = _Followed(follower)
            log.info("witnessing marker stream %s", predicate)
        self._followed[predicate].decoders.add(decoder_id)

    def _release(self, decoder_id: str, predicate: str | None) -> None:
        followed = self._followed.get(predicate) if predicate is not None else None
        if followed is None:
            return
        followed.decoders.discard(decoder_id)
        if not followed.decoders:
            # its inlet closed before this returns (its pull ends within 0.2 s): a decoder stopped, then its sender (a
            # replay, the demo's simulator) would otherwise break the witness's transmission (liblsl logs an ERR line)
            followed.follower.stop(timeout=1.0)
            del self._followed[predicate]

    def _drain(self, followed: _Followed) -> None:
        """Take what the follower pulled; forget markers older than :attr:`keep_s`."""
        q, kept = followed.follower.queue, followed.markers
        while q:
            item = q.popleft()
            if item[0] == "marker":
                _, value, ts, offset = item
                kept.append((ts + offset, value, ts))
        oldest = pylsl.local_clock() - self.keep_s
        while kept and kept[0][0] < oldest:
            kept.popleft()

    @staticmethod
    def _window(followed: _Followed, window: dict[str, float], offset: float,
                ended: Any) -> tuple[tuple[str, float], ...]:
        """``(value, ts)`` of the markers witnessed in ``window`` (the worker's clock; ``offset``: its clock offset of
        the marker stream) but not in the crashed generation's last status. Compared on the marker stream's own
        timestamps: a worker on another host (Ray) has another clock than this process."""
        lo, hi = window["from"] - offset, window["to"] - offset
        last = (ended.markers or {}) if ended is not None else {}
        before = [(m[1], m[2] - (last.get("clock_offset") or 0.0)) for m in last.get("recent") or []]
        return tuple((value, ts) for _, value, ts in followed.markers if lo <= ts <= hi
                     and not any(v == value and abs(ts0 - ts) < SAME_S for v, ts0 in before))
