"""The service's caps on what token holders may start (audit s46 security S3, S6): decoders (``max_decoders``),
recordings with no model (``max_recordings``), WebSocket output clients (``max_ws_clients``) and the channels of a
recorded stream (``max_record_channels``); the settings are in :mod:`bci_stream.core.settings`.

What counts: a decoder while it is listed (from its start to its ``DELETE``, in state ``error`` too: it may be
restarted, and holds its output ring and pipes until then); a recording while it is ``searching`` or ``recording``
(its thread and inlets; one ``stopped`` or in ``error`` holds neither); a WebSocket client while its session runs, over
all decoders (the sockets are the API process's, whichever decoder they read). Beyond a cap a start is refused with a
:class:`~bci_stream.core.errors.CapacityError` (HTTP 429) and a WebSocket is closed with :data:`WS_TRY_AGAIN_LATER`,
each message naming the setting, its value and what to do.
"""

from __future__ import annotations

import threading

#: RFC 6455's close code 1013, "Try Again Later": the server is casting off a client for a condition of its own.
WS_TRY_AGAIN_LATER = 1013


def decoders_full(cap: int) -> str:
    """Why a decoder does not start: ``cap`` decoders are listed."""
    return (f"at most max_decoders={cap} decoders may be listed at once (a setting of the service), and {cap} are "
            "(a decoder counts until its DELETE, in state 'error' too): DELETE /decoders/{id} one no longer needed "
            "(GET /decoders lists them), or raise max_decoders (BCI_STREAM_MAX_DECODERS)")


def recordings_full(cap: int) -> str:
    """Why a recording does not start: ``cap`` recordings are searching or recording."""
    return (f"at most max_recordings={cap} recordings may run at once (a setting of the service), and {cap} are "
            "searching or recording: DELETE /recordings/{id} one (those stopped or in error do not count), or raise "
            "max_recordings (BCI_STREAM_MAX_RECORDINGS)")


def ws_clients_full(cap: int) -> str:
    """A WebSocket close reason (at most 123 bytes) when ``cap`` output clients are open."""
    return f"max_ws_clients={cap} WebSocket clients are open (all decoders): close one, or raise max_ws_clients"


def channels_refusal(name: str, n_channels: int, cap: int) -> str:
    """Why stream ``name`` of ``n_channels`` channels is not recorded with no model."""
    return (f"stream {name!r} has {n_channels} channels, more than max_record_channels={cap}, the most a recording "
            "with no model takes (a setting of the service): nothing recorded; raise max_record_channels for a "
            "stream that has that many")


class ClientSlots:
    """A count of open WebSocket output clients, at most ``cap``: :meth:`take` one when a session starts (False:
    full), :meth:`give` it back when it ends."""

    def __init__(self, cap: int) -> None:
        self.cap, self.open = cap, 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.open >= self.cap:
                return False
            self.open += 1
            return True

    def give(self) -> None:
        with self._lock:
            self.open = max(0, self.open - 1)
