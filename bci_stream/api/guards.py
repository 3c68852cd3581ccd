"""Request guards of the control plane: a limit of the request head's size, a body size limit that also holds for
streamed (chunked) bodies, and 422 answers that stay valid JSON whatever the rejected input held (NaN, inf, lone
surrogates)."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bci_stream.api.field_hints import with_hints


#: Largest request head (request line and header lines) in bytes: h11's default limit of a head still arriving,
#: given to uvicorn explicitly (``h11_max_incomplete_event_size``: 400 beyond it), which h11 does not apply to a head
#: that came whole in one read (up to 256 KiB: a 40 kB header line and 5,000 headers were answered 200, audit s46 S2):
#: :class:`HeadLimit` holds such a head to it.
MAX_HEAD_BYTES = 16 * 1024


def head_bytes(scope: Scope) -> int:
    """The size of a request's head as sent, near enough (h11 strips the blanks around a header's value)."""
    query = scope.get("query_string") or b""
    target = len(scope.get("raw_path") or scope["path"].encode()) + (1 + len(query) if query else 0)
    line = len(scope.get("method", "GET")) + 1 + target + len(" HTTP/1.1\r\n")
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"]) + 2


class HeadLimit:
    """ASGI middleware: a request (or WebSocket handshake) whose head is over ``limit`` bytes gets 431 (a WebSocket
    is refused before its handshake: the client sees HTTP 403)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_HEAD_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or (size := head_bytes(scope)) <= self.limit:
            await self.app(scope, receive, send)
            return
        why = (f"request line and headers are {size} bytes ({len(scope['headers'])} headers); the limit is "
               f"{self.limit} bytes")
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": why[:120]})
            return
        await JSONResponse(status_code=431, content={"detail": why})(scope, receive, send)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413, whether its Content-Length says so
    up front or it is sent chunked without one. A chunked body is read here first, up to the limit, and handed on
    whole: a route that reads no body (a reset, a GET, a DELETE) got one of any size and acted on the request."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"").decode("latin-1")
        if length.isdigit() and int(length) > self.limit:
            response = JSONResponse(status_code=413, content={
                "detail": f"request body is {length} bytes; the limit (max_request_bytes) is {self.limit}"})
            await response(scope, receive, send)
            return
        if length.isdigit():  # the server reads no more than that
            await self.app(scope, receive, send)
            return
        body, more = bytearray(), True
        while more:  # chunked (or a body without a length): read to its end, or past the limit
            message = await receive()
            if message["type"] != "http.request":  # the client left: the app sees that
                first = [message]
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                response = JSONResponse(status_code=413, content={
                    "detail": f"request body is over {self.limit} bytes; the limit (max_request_bytes) is "
                              f"{self.limit}"})
                await response(scope, receive, send)
                return
        else:
            first = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replayed() -> Message:
            return first.pop() if first else await receive()

        await self.app(scope, replayed, send)


async def no_duplicate_keys(request: Request) -> None:
    """A route's dependency (after the token's: a request without it still gets 401, an unknown path 404): a JSON body
    that names a key twice in one object gets 422 naming it. The JSON parser keeps the last value (``{"model": "a",
    "model": "b"}`` ran model b: audit s63fault F4); RFC 8259 leaves such a body's meaning undefined, and a client that
    sent it most likely has a bug. (Before, a middleware: its 422 came before the 401 and the 404, review s63 F4.)"""
    if not _json_body(request.scope):
        return
    if (key := duplicate_key(await request.body())) is not None:  # the body FastAPI read, kept by the request
        raise RequestValidationError([{
            "type": "json_duplicate_key", "loc": ("body", key),
            "msg": f"the JSON body names the key {key!r} twice in one object: which value is meant is undefined "
                   "(RFC 8259); send each key once"}])


def _json_body(scope: Scope) -> bool:
    """The request's Content-Type is one FastAPI reads as JSON: ``application/json`` or ``application/<name>+json``."""
    kind = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def duplicate_key(body: bytes) -> str | None:
    """The first key ``body`` (JSON) names twice in one object; None when none does, or when it is no JSON."""
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and not found:
                found.append(key)
            seen.add(key)
        return dict(items)

    try:
        json.loads(body, object_pairs_hook=pairs)
    except (ValueError, RecursionError):  # not JSON (the route's validation says why), or too deep for Python
        return None
    return found[0] if found else None


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as strings ('nan', 'inf') and unencodable strings escaped."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def content_type_error(request: Request, exc: RequestValidationError) -> dict[str, Any] | None:
    """The error of a body that was not read as JSON for its ``Content-Type`` (curl's ``-d`` sends
    ``application/x-www-form-urlencoded``; ``text/plain``; none at all), or None.

    FastAPI parses a body as JSON only under ``application/json`` or ``application/<name>+json`` (parameters such as
    ``charset`` allowed); any other body reaches validation as its raw bytes, whose error ("Input should be a valid
    dictionary or object to extract fields from") did not say that the content type was the problem.
    """
    if not isinstance(exc.body, (bytes, bytearray)) or not exc.body:  # parsed JSON, or no body at all
        return None
    got = request.headers.get("content-type")
    said = f"got Content-Type {got!r}" if got else "got no Content-Type header"
    return {"type": "content_type", "loc": ["body"],
            "msg": f"the request body must be JSON sent with Content-Type: application/json (or "
                   f"application/<name>+json), {said}"}


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 body (``detail``: the errors, each naming its field), valid JSON even when the
    echoed input is not (the default handler fails with a 500 on NaN, inf or a lone surrogate). A body sent with a
    content type other than JSON's gets one error naming the content type received and the one required
    (:func:`content_type_error`), instead of its fields' errors."""
    errors = with_hints(request, list(exc.errors()))  # a misspelt field: the one it looks like
    if (wrong_type := content_type_error(request, exc)) is not None:
        errors = [e for e in errors if tuple(e.get("loc", ()))[:1] != ("body",)] + [wrong_type]
    return JSONResponse(status_code=422, content={"detail": json_safe(jsonable_encoder(errors))})


UNPARSED = "There was an error parsing the body"  # FastAPI's 400 when decoding the JSON raised something else


#: The methods a 405's ``Allow`` header may name.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def http_error(request: Request, exc: HTTPException) -> Any:
    """FastAPI's answer, except for a body its JSON decoder could not read (bytes that are not UTF-8, nested deeper
    than Python allows, an integer of over 4,300 digits): a 422 that says which, as for any other malformed body."""
    if exc.status_code == 400 and exc.detail == UNPARSED:
        msg = "the body is not JSON this service reads: nested too deep or a number too long (over 4,300 digits)"
        encoding = request.headers.get("content-encoding", "").strip()
        try:
            (await request.body()).decode("utf-8")  # the body FastAPI read, kept by the request
        except UnicodeDecodeError as err:
            msg = (f"the body is not UTF-8 (byte 0x{err.object[err.start]:02x} at offset {err.start}): a JSON body "
                   "must be UTF-8 (RFC 8259)")
        except Exception:  # noqa: BLE001 - the body cannot be read again: the general message
            pass
        if encoding.lower() not in ("", "identity"):  # (audit s68api F7: a gzip body was said to be "not UTF-8")
            msg = (f"the body is sent with Content-Encoding {encoding!r}, which this service does not decode: send "
                   "the JSON as it is (UTF-8), without a Content-Encoding")
        detail = [{"type": "json_invalid", "loc": ["body"], "msg": msg}]
        return JSONResponse(status_code=422, content={"detail": detail})
    if exc.status_code == 405:  # Allow: every method some route of this path takes, not the first route's only
        allowed = [m for m in METHODS if any(r.matches({**request.scope, "method": m})[0] is Match.FULL
                                             for r in request.app.routes)]
        return JSONResponse(status_code=405, content={"detail": exc.detail}, headers={"Allow": ", ".join(allowed)})
    return await http_exception_handler(request, exc)
