"""Connection-level limits of the HTTP server (audit s46, security S2): what uvicorn's defaults leave open.

* **Request-head timeout** (``http_header_timeout_s``). uvicorn's h11 protocol starts its keep-alive timer only once
  a response is complete, and stops it at the first byte received: a connection that sends nothing, or half a
  request head and then nothing, was held for good (300 such connections were, in the audit).
  :class:`HeadTimeoutProtocol` closes a connection whose request head is not complete within that many seconds of
  its opening, or of its previous response's end, and one whose body stops coming for that long while its app reads
  it. The app's answer, and a WebSocket upgraded from a request, are never timed by it: subscribers stay connected.
* **Connections** (``http_max_connections``): a request that comes while more connections are open (or more
  requests are being answered) gets 503, in the service's error shape with ``Retry-After`` and ``"retryable": true``
  (:func:`connections_full`), its connection closed. uvicorn's own cap (``limit_concurrency``, the same rule) answers
  in plain text, which a client of this JSON API could not read (carried since audit s48): the protocol applies the
  rule itself (:attr:`HeadTimeoutProtocol.app`).
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

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bci_stream.api.guards import MAX_HEAD_BYTES
from bci_stream.core.settings import Settings

#: what a request refused for the connection cap is told to wait before it retries (``Retry-After``), s
CONNECTIONS_RETRY_AFTER_S = 1


def connections_full(cap: int) -> ASGIApp:
    """The answer to a request over the connection cap ``cap`` (``http_max_connections``): 503, JSON, retryable."""
    detail = (f"more than http_max_connections={cap} connections are open to the service (or more requests are being "
              f"answered): retry after {CONNECTIONS_RETRY_AFTER_S} s, close connections left open, or raise "
              "http_max_connections (BCI_STREAM_HTTP_MAX_CONNECTIONS)")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(status_code=503, content={"detail": detail, "retryable": True},
                                headers={"Retry-After": str(CONNECTIONS_RETRY_AFTER_S), "Connection": "close"})
        await response(scope, receive, send)

    return app


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
    ``self.cycle.response_complete``, the h11 connection ``self.conn``; for the cap, ``self.app`` (set in
    ``__init__``, read once per request), ``self.connections`` and ``self.tasks``.
    """

    head_timeout_s: float = 10.0
    #: ``http_max_connections`` (None: no cap): a request while more connections are open, or more requests are being
    #: answered, gets :func:`connections_full` (uvicorn's ``limit_concurrency`` rule, with the service's answer)
    max_connections: int | None = None
    _head_timer: asyncio.TimerHandle | None = None
    _app: ASGIApp

    @property
    def app(self) -> ASGIApp:  # type: ignore[override]
        """The app a request just received is handed to (uvicorn's ``handle_events`` reads it once per request)."""
        cap = self.max_connections
        if cap is not None and (len(self.connections) > cap or len(self.tasks) > cap):
            self.logger.warning("%s - 503: over http_max_connections=%d (%d connections open, %d requests answered)",
                                self.client, cap, len(self.connections), len(self.tasks))
            return connections_full(cap)
        return self._app

    @app.setter
    def app(self, value: ASGIApp) -> None:
        self._app = value

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


def head_timeout_protocol(seconds: float, max_connections: int | None = None) -> type[HeadTimeoutProtocol]:
    """:class:`HeadTimeoutProtocol` with a timeout of ``seconds`` and a cap of ``max_connections`` (uvicorn makes one
    instance per connection)."""
    return type("HeadTimeoutProtocol", (HeadTimeoutProtocol,),
                {"head_timeout_s": float(seconds), "max_connections": max_connections})


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The ``uvicorn.run``/``uvicorn.Config`` keyword arguments of these limits, for ``serve`` and the background
    server alike."""
    return {
        # the connection cap in the protocol (uvicorn's limit_concurrency answers in plain text): the setting's number
        # of connections, the request's own included, is served
        "http": head_timeout_protocol(settings.http_header_timeout_s, settings.http_max_connections),
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
    }
