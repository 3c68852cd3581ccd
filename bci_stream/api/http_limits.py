"""Connection-level limits of the HTTP server (audit s46, security S2): what uvicorn's defaults leave open.

* **Request-head timeout** (``http_header_timeout_s``). uvicorn's h11 protocol starts its keep-alive timer only once
  a response is complete, and stops it at the first byte received: a connection that sends nothing, or half a
  request head and then nothing, was held for good (300 such connections were, in the audit).
  :class:`HeadTimeoutProtocol` closes a connection whose request head is not complete within that many seconds of
  its opening, or of its previous response's end. Once a head is in, the request (its body, the app's answer) and a
  WebSocket upgraded from it are never timed by it: subscribers stay connected.
* **Connections** (``http_max_connections``): uvicorn's ``limit_concurrency``, a 503 (uvicorn's, plain text) to a
  request that comes while more connections are open (:func:`uvicorn_options`).
* **Head size**: h11 refuses (400) a head still incomplete at :data:`~bci_stream.api.guards.MAX_HEAD_BYTES` (its
  default, given explicitly); one that comes whole in one read is parsed whatever its size, and
  :class:`~bci_stream.api.guards.HeadLimit` answers it 431.

The protocol is forced to h11 (uvicorn's ``auto`` takes httptools when installed): one parser, one set of limits.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from bci_stream.api.guards import MAX_HEAD_BYTES
from bci_stream.core.settings import Settings


class HeadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head timeout of :attr:`head_timeout_s` seconds (a subclass per value:
    :func:`head_timeout_protocol`).

    Kept tiny, on what uvicorn's h11 protocol has had since 0.30 (the project's oldest): ``connection_made``,
    ``handle_events``, ``on_response_complete``, ``connection_lost``, ``self.loop``, ``self.transport`` and the h11
    connection ``self.conn``. h11's state of the client, ``their_state``, is ``IDLE`` exactly while no complete
    request head has come since the connection opened or the previous request/response ended; the timer is armed
    then, disarmed as soon as a head is in (a request, or a WebSocket upgrade: the connection leaves this protocol),
    and at its expiry closes the connection only if the client is still ``IDLE``.
    """

    head_timeout_s: float = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.debug("%s - closed: no complete request head within %g s (http_header_timeout_s)",
                              self.client, self.head_timeout_s)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # a head is in (or the client erred: the connection is closing)
            self._disarm_head_timer()
        elif self._head_timer is None and not self.transport.is_closing():  # a cycle h11 restarted here (the
            self._arm_head_timer()  # response went before the body was read): time the next head too

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request (then the client is no longer IDLE)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)


def head_timeout_protocol(seconds: float) -> type[HeadTimeoutProtocol]:
    """:class:`HeadTimeoutProtocol` with a timeout of ``seconds`` (uvicorn makes one instance per connection)."""
    return type("HeadTimeoutProtocol", (HeadTimeoutProtocol,), {"head_timeout_s": float(seconds)})


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The ``uvicorn.run``/``uvicorn.Config`` keyword arguments of these limits, for ``serve`` and the background
    server alike."""
    return {
        "http": head_timeout_protocol(settings.http_header_timeout_s),
        # uvicorn answers 503 when its open connections, the request's own included, are >= limit_concurrency (or
        # its running requests, not counting this one): + 1 so that the setting's number of connections is served
        "limit_concurrency": settings.http_max_connections + 1,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
    }
