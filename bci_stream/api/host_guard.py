"""A service with no token bound to this host's loopback answers only requests made to a loopback name.

Such a service trusts every program of the host. A web page in a browser on the host is not one: by DNS rebinding
(its own name made to resolve to 127.0.0.1) it becomes same-origin with the service, and reads and drives the API;
and any page may open a WebSocket to it. Starlette checks neither the ``Host`` nor the ``Origin`` header (audit s46,
security review: with ``Host: attacker.example`` ``/status`` answered and a recording started; a WebSocket from
``Origin: http://attacker.example`` got the decoded outputs). So, when no token is set and the service listens on a
loopback address only, a request whose ``Host`` (or a WebSocket whose ``Origin``) names anything but a loopback
address, ``localhost`` or this host's name is answered 421 (a WebSocket: refused before its handshake). A token
(``BCI_STREAM_TOKEN``) is the defence otherwise: a page never has it.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this host's loopback."""
    host = host.strip("[]").lower()
    if host in ("localhost", "localhost.") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_of(value: str) -> str:
    """The host part of a ``Host`` header (``name:port``, ``[::1]:8000``) or of an ``Origin`` URL."""
    if "://" in value:
        return (urlsplit(value).hostname or "").lower()
    return (urlsplit(f"//{value}").hostname or "").lower()


class LoopbackHosts:
    """ASGI middleware: the ``Host`` and ``Origin`` check of the module docstring (installed only when it applies:
    :func:`applies`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.names = {socket.gethostname().lower(), socket.getfqdn().lower()} - {""}

    def allowed(self, host: str) -> bool:
        return is_loopback(host) or host in self.names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = _host_of(headers.get("host", ""))
        origin = headers.get("origin")
        bad = (f"Host {host!r}" if host and not self.allowed(host) else
               f"Origin {origin!r}" if origin and origin != "null" and not self.allowed(_host_of(origin)) else None)
        if bad is None:
            await self.app(scope, receive, send)
            return
        why = (f"{bad} is not this service's: it has no token and listens on this host's loopback only, so it answers "
               "requests made to a loopback name (127.0.0.1, localhost) or this host's name; set a token "
               "(BCI_STREAM_TOKEN) to serve other names, e.g. behind a proxy")
        if scope["type"] == "websocket":  # refused before the handshake: the client sees HTTP 403
            await send({"type": "websocket.close", "code": 1008, "reason": why[:120]})
            return
        await JSONResponse(status_code=421, content={"detail": why})(scope, receive, send)


def applies(host: str, token: object) -> bool:
    """Whether :class:`LoopbackHosts` guards a service bound to ``host`` with ``token`` (None: no token): the bind
    address judged as the start-up log judges it (:func:`~bci_stream.api.startup_log.loopback_only`); a request's
    ``Host`` by :func:`is_loopback`, which resolves no name (an attacker's name may resolve to 127.0.0.1)."""
    from bci_stream.api.startup_log import loopback_only

    return token is None and loopback_only(host)


__all__ = ["LoopbackHosts", "applies", "is_loopback"]
