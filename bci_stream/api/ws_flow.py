"""Flow control of the WebSocket output streams: how much may wait for one client before its rows are dropped.

A client that reads slower than its decoder publishes must lose its oldest rows in the output ring (counted in
``dropped``), not be served ever staler rows. Without a bound, the server's kernel send buffer (autotuned up to
megabytes) and the event loop's write buffer accept minutes of rows before a send blocks, so the ring never laps.
:class:`TransportScope` hands the route the connection's asyncio transport; :func:`limit_send_buffer` gives its
socket a small send buffer, and :func:`backlogged` tells the route to leave rows in the ring while a message is
still waiting to be handed to the kernel. What the client's own receive buffer holds is its own choice.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

#: scope key under which :class:`TransportScope` puts the connection's transport (None when the server hides it)
TRANSPORT_KEY = "bci_stream.transport"
#: SO_SNDBUF of a WebSocket output connection (Linux doubles it): what may wait in the kernel for one client
WS_SEND_BUFFER_BYTES = 32 * 1024


class TransportScope:
    """ASGI middleware: for a WebSocket, puts the server's asyncio transport in ``scope[TRANSPORT_KEY]``.

    uvicorn's ``send`` is a method of its protocol object, which holds the transport; another server (or a
    test client) gives None, and the output route then sends without flow control.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            scope[TRANSPORT_KEY] = transport if isinstance(transport, asyncio.WriteTransport) else None
        await self.app(scope, receive, send)


def limit_send_buffer(transport: Any, size: int = WS_SEND_BUFFER_BYTES) -> None:
    """Give the transport's socket a send buffer of ``size`` bytes (no autotuning); nothing without a socket."""
    sock = None if transport is None else transport.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    except OSError as exc:  # not fatal: the client is then bounded by the write buffer only
        log.warning("could not set SO_SNDBUF=%d on a WebSocket connection: %s", size, exc)


def unacked_bytes(transport: Any) -> int:
    """Bytes the kernel holds for the peer (sent but not acknowledged, or not sent: its window is closed); 0 when
    the socket cannot say."""
    sock = transport.get_extra_info("socket")
    try:
        import fcntl
        import termios

        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    except (ImportError, AttributeError, OSError, ValueError):  # not POSIX, no socket, or closed meanwhile
        return 0


def backlogged(transport: Any) -> bool:
    """True while an earlier message has not reached the client yet: bytes wait in the event loop's write buffer,
    or in the kernel's send queue (the client's receive window is closed: it reads slower than we send). Rows are
    then left in the ring; the next message carries all that arrived meanwhile. False without a transport."""
    if transport is None or transport.is_closing():
        return False
    return transport.get_write_buffer_size() > 0 or unacked_bytes(transport) > 0
