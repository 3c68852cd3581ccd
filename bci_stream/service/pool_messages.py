"""Typed messages on a shared worker's control pipe (one pipe per worker; each message names its decoder).

Supervisor → worker: :class:`AddStream` (a decoder to host, with its own command and status pipes, so every
per-decoder command and status travels exactly as with a dedicated worker) and :class:`StopWorker`.
Worker → supervisor: :class:`StreamEnded` (a decoder left the worker: stopped, refused or crashed, with the
exit code a dedicated worker would have had) and :class:`SavedState` (a decoder's state snapshot, taken every
``snapshot_interval_s``, restored when a crashed worker's streams are re-added).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SavedState:
    """A decoder's decoding state at input sample ``seq`` (arrays by name) for the model ``sha256``; ``held``: per
    model channel the value its ``nan_policy`` hold replaces a non-finite one with (None: no finite one yet)."""

    decoder_id: str
    generation: int
    sha256: str
    seq: int
    arrays: dict[str, Any] = field(default_factory=dict)
    held: list[float | None] | None = None


@dataclass(frozen=True)
class AddStream:
    """Host decoder ``decoder_id`` (generation ``generation``); ``restore``: its state to resume from."""

    decoder_id: str
    generation: int
    spec_json: str
    cmd_conn: Any  # multiprocessing Connection (its descriptor travels with the message)
    status_conn: Any
    ring: Any = None  # NamedRingHandles | None
    restore: SavedState | None = None


@dataclass(frozen=True)
class StopWorker:
    """Stop every stream and end the worker process (exit code 0)."""


@dataclass(frozen=True)
class StreamEnded:
    """Decoder ``decoder_id`` left the worker with ``code`` (0 stopped, 3 refused, 4 model unavailable now,
    1 crashed)."""

    decoder_id: str
    generation: int
    code: int
