"""Connection-level limits of the HTTP server (audit s46, security S2): what uvicorn's defaults leave open.

* **Request-head timeout** (``http_header_timeout_s``). uvicorn's h11 protocol starts its keep-alive timer only once
  a response is complete, and stops it at the first byte received: a connection that sends nothing, or half a
  request head and then nothing, was held for good (300 such connections were, in the audit).
  :class:`HeadTimeoutProtocol` closes a connection whose request head is not complete within that many seconds of
  its opening, or of its previous response's end, and one whose body stops coming for that long while its app reads
  it. The app's answer, and a WebSocket upgraded from a request, are never timed by it: subscribers stay connected.
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
    """uvicorn's h11 protocol with a timeout of :attr:`head_timeout_s` seconds on what the server waits for from the
    client (a subclass per value: :func:`head_timeout_protocol`); :meth:`_phase` says what that is:

    * ``head``: no complete request head since the connection opened or the last response (h11's ``IDLE``), or the
      rest of a body whose request was answered already (a 404, a 413 before its body was read): at most that long
      in all from then;
    * ``body``: the body of a request its app is reading: at most that long between two reads of its bytes (a client
      that sent part of a body and fell silent was held for good, no token needed: review s48 N1), unless reading is
      paused because the app is slow to take them (uvicorn's flow control): then the app is waited for;
    * none: the app answers a whole request, or the connection was upgraded to a WebSocket (it left this protocol).

    Kept tiny, on what uvicorn's h11 protocol has had since 0.30 (the project's oldest): ``connection_made``,
    ``handle_events`` (called with each read), ``on_response_complete``, ``connection_lost``, ``self.loop``,
    ``self.transport`` (``get_protocol``: another after an upgrade), ``self.flow.read_paused``,
    ``self.cycle.response_complete`` and the h11 connection ``self.conn``.
    """

    head_timeout_s: float = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def _phase(self) -> str | None:
        if self.transport.get_protocol() is not self:  # upgraded: a WebSocket's protocol has the connection now
            return None
        state = self.conn.their_state
        if state is h11.IDLE:
            return "head"
        if state is h11.SEND_BODY and self.cycle is not None:
            return "head" if self.cycle.response_complete else "body"
        return None

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        phase = self._phase()
        if phase is None or self.transport.is_closing():
            return
        if phase == "body" and self.flow.read_paused:  # the app is slow to read the body, not the client to send it
            self._arm_head_timer()
            return
        self.logger.debug("%s - closed: no complete request %s within %g s (http_header_timeout_s)", self.client,
                          "head" if phase == "head" else "body, nothing of it", self.head_timeout_s)
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def handle_events(self) -> None:
        super().handle_events()
        phase = self._phase()
        if phase is None:  # a whole request is in (or the client erred: the connection is closing)
            self._disarm_head_timer()
        elif phase == "body":  # bytes of a body the app reads came: the next may take as long again
            self._arm_head_timer()
        elif self._head_timer is None and not self.transport.is_closing():  # a cycle h11 restarted here (the
            self._arm_head_timer()  # response went before the body was read): time the next head too

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request (then the client is no longer IDLE)
        if self._phase() == "head" and not self.transport.is_closing():  # IDLE, or the answered request's body
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
