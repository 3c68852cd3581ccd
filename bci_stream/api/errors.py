"""Where typed errors become HTTP answers: one table, one handler (the runtime never names a status code).

An error that a retry may cure says why as data (``exc.retry``, :class:`~bci_stream.core.messages.Retry`, e.g. the
worker's ``Reply.retry``); that kind, never the message's text, gives the status: :data:`RETRY_CODES`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bci_stream.core.errors import (BciStreamError, CapacityError, CommandRefusedError, CommandTimeoutError,
                                    DecoderIdInUseError, DecoderNotFoundError, DecoderNotReadyError, ModelError,
                                    ModelNotFoundError, PlacementError, ServiceEndingError)
from bci_stream.core.messages import Retry

#: What a 503 tells a client to wait before it retries (``Retry-After``, s): a model that could not be loaded now.
RETRY_AFTER_S = 5

#: The status of an error a retry may cure, by why: the decoder is busy or not running yet (409), or a condition of
#: the server passes (503, with ``Retry-After``: every ``ModelUnavailableError``). Both say ``"retryable": true``.
RETRY_CODES: dict[Retry, int] = {Retry.BUSY: 409, Retry.UNAVAILABLE: 503}

#: Most specific first: the first class an error is an instance of gives its status code.
STATUS_CODES: tuple[tuple[type[BciStreamError], int], ...] = (
    (DecoderNotFoundError, 404),
    (ModelNotFoundError, 404),
    (DecoderIdInUseError, 409),
    (DecoderNotReadyError, 409),
    (CommandRefusedError, 409),
    (CommandTimeoutError, 504),
    (CapacityError, 429),  # a cap of the service (max_decoders, max_recordings): as RFC 6585's and gRPC's quota
    (ModelError, 422),
    (PlacementError, 422),
    (ServiceEndingError, 503),  # the next instance of the service takes it (no Retry-After: not this one)
)


def status_code(exc: BciStreamError) -> int:
    if exc.retry is not None:
        return RETRY_CODES[exc.retry]
    return next((code for cls, code in STATUS_CODES if isinstance(exc, cls)), 500)


async def bci_stream_error(request: Request, exc: BciStreamError) -> JSONResponse:
    """``{"detail": message}`` with the error's status code (a 422 whose error knows the request's field: ``detail``
    a list of ``loc``, ``msg``, ``type``, as FastAPI's); an error a retry may cure also says ``"retryable": true``, and
    a 503 (a condition of the server) carries ``Retry-After``."""
    code = status_code(exc)
    if exc.retry is None and exc.loc is not None and code == 422:  # as a malformed body's: the field named
        detail = [{"loc": list(exc.loc), "msg": str(exc), "type": "value_error"}]
        return JSONResponse(status_code=code, content={"detail": detail})
    if exc.retry is None:
        return JSONResponse(status_code=code, content={"detail": str(exc)})
    headers = {"Retry-After": str(RETRY_AFTER_S)} if exc.retry is Retry.UNAVAILABLE else None
    return JSONResponse(status_code=code, content={"detail": str(exc), "retryable": True}, headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(BciStreamError, bci_stream_error)
