"""Typed commands and replies between the supervisor (API process) and a worker process.

A command that expects an answer carries a ``request_id``; the worker answers with a :class:`Reply` that
carries the same id, so an answer can never be matched to another request. Messages are plain frozen
dataclasses: they cross the process boundary by pickling.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

#: (worker generation, request number): unique for the life of a decoder, across restarts.
RequestId = tuple[int, int]
#: A worker's refusal of any command before its stream is connected (sent with ``Retry.BUSY``).
NO_STATE_YET = ("the decoder has no state yet (it is not running: its stream is not connected yet); retry once it is "
                "running")


class Retry(str, Enum):
    """Why a refused command may succeed if sent again unchanged (:attr:`Reply.retry`); a refusal without one is
    the command's fault and a retry cannot cure it (the API answers 422 for a malformed command or model).

    The kind, not the refusal's text, decides the answer, so a reworded message cannot change it.
    """

    #: The decoder cannot take the command now: it is not running yet, or a swap is under way (409, retry soon).
    BUSY = "busy"
    #: A passing condition of the worker's machine: a model it could not load for lack of memory or file
    #: descriptors (:mod:`~bci_stream.core.load_errors`; 503 with ``Retry-After``).
    UNAVAILABLE = "unavailable"


@functools.cache
def host_boot_id() -> str | None:
    """This host's boot (Linux: ``/proc/sys/kernel/random/boot_id``, new at each boot): processes that give the same
    one read the same ``CLOCK_MONOTONIC``. None where there is none (the wall clock is then what commands go by)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


@dataclass(frozen=True, kw_only=True)
class Command:
    """Base of every command. ``request_id`` is None for fire-and-forget commands. ``deadline``: when its sender stops
    waiting for the answer (a timeout, answered 504); the worker does not apply a command it reads later, nor a swap
    whose model is ready later, so a command answered 504 never takes effect afterwards (:meth:`late`).

    ``deadline`` is on the sender's monotonic clock (``time.monotonic()``, ``CLOCK_MONOTONIC``: one clock for every
    process of a host, never stepped), which a worker on the sender's host (``boot_id``, that host's boot) reads
    alike; ``wall_deadline`` (``time.time()``) is for a worker on another host (a Ray node), whose clocks are only as
    close as NTP keeps them. Before, the wall clock alone: a step of it (NTP, a VM resumed, a clock set by hand) made
    a command answered 504 apply later (a step back), or refused one its sender still waited for (a step forward)."""

    request_id: RequestId | None = None
    deadline: float | None = None
    wall_deadline: float | None = None
    boot_id: str | None = None

    #: What the API calls it (errors about it name it so: before, the class's name, e.g. 'SwapModel').
    kind: ClassVar[str] = "command"

    def late(self, boot_id: str | None, monotonic: float, wall: float) -> float | None:
        """Seconds since its sender stopped waiting, read on a host of ``boot_id`` at ``monotonic`` and ``wall`` (its
        ``time.monotonic()`` and ``time.time()``), or None while it still waits (or for a command without one)."""
        if self.deadline is not None and self.boot_id is not None and self.boot_id == boot_id:
            return monotonic - self.deadline if monotonic > self.deadline else None
        if self.wall_deadline is not None:
            return wall - self.wall_deadline if wall > self.wall_deadline else None
        return None


@dataclass(frozen=True, kw_only=True)
class Stop(Command):
    """Stop decoding and end the worker process (exit code 0)."""

    kind: ClassVar[str] = "stop"


@dataclass(frozen=True, kw_only=True)
class Reset(Command):
    """Reset every state (recurrent, estimators, filters) between two chunks; counted."""

    kind: ClassVar[str] = "reset"


@dataclass(frozen=True, kw_only=True)
class SwapModel(Command):
    """Load ``model`` beside the running one and switch to it between two chunks."""

    kind: ClassVar[str] = "model swap"
    model: str


@dataclass(frozen=True, kw_only=True)
class GetState(Command):
    """A snapshot of the decoding state (:class:`StateSnapshot` in the reply)."""

    kind: ClassVar[str] = "state snapshot"


@dataclass(frozen=True, kw_only=True)
class SetState(Command):
    """Restore a snapshot; ``sha256``, when given, must be the running model's."""

    kind: ClassVar[str] = "state restore"
    arrays: dict[str, Any]
    sha256: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecoverMarkers(Command):
    """Markers the supervisor's witness received while this decoder's worker was restarting, for the window of its
    status ``markers.unfollowed``: ``(value, source timestamp)`` pairs, taken as markers received
    (:meth:`~bci_stream.service.markers.MarkerHub.recover`). Fire-and-forget."""

    kind: ClassVar[str] = "marker recovery"
    markers: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Reply:
    """The worker's answer to the command with ``request_id``: ``payload`` when ``ok``, else ``error`` and, when the
    same command may succeed later, ``retry`` saying why (:class:`Retry`; None: the command's fault)."""

    request_id: RequestId
    ok: bool
    payload: Any = None
    error: str | None = None
    retry: Retry | None = None


@dataclass(frozen=True)
class StateSnapshot:
    """Payload of :class:`GetState`: the arrays by name (nested lists) and where the stream was."""

    model: dict[str, Any] | None
    seq: int
    state_epoch: int
    arrays: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StateChanged:
    """Payload of :class:`Reset`, :class:`SetState`, :class:`SwapModel`: the new state epoch (and model)."""

    state_epoch: int
    seq: int | None = None
    model: dict[str, Any] | None = None
    counters: dict[str, int] | None = None  # the decoder's counters just after the change
    stream: dict[str, Any] | None = None  # a swap: the stream as the new model reads it (channel_map, units)
    scoring: dict[str, Any] | None = None  # a swap: the live scoring under the new model (scoring.previous: the last's)
    markers: dict[str, Any] | None = None  # a swap: the marker following under the new model's map
