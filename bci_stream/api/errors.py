"""Where typed errors become HTTP answers: one table, one handler (the runtime never names a status code)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bci_stream.core.errors import (BciStreamError, CommandRefusedError, CommandTimeoutError, DecoderNotFoundError,
                               DecoderNotReadyError, ModelError, ModelNotFoundError, ModelUnavailableError,
                               PlacementError)

#: What a 503 tells a client to wait before it retries (``Retry-After``, s): a model that could not be loaded now.
RETRY_AFTER_S = 5

#: Most specific first: the first class an error is an instance of gives its status code.
STATUS_CODES: tuple[tuple[type[BciStreamError], int], ...] = (
    (DecoderNotFoundError, 404),
    (ModelNotFoundError, 404),
    (DecoderNotReadyError, 409),
    (CommandRefusedError, 409),
    (CommandTimeoutError, 504),
    (ModelUnavailableError, 503),
    (ModelError, 422),
    (PlacementError, 422),
)


def status_code(exc: BciStreamError) -> int:
    return next((code for cls, code in STATUS_CODES if isinstance(exc, cls)), 500)


async def bci_stream_error(request: Request, exc: BciStreamError) -> JSONResponse:
    """``{"detail": message}`` with the error's status code; a 503 (a condition of the server a retry can cure) also
    says ``"retryable": true`` and carries ``Retry-After``."""
    code = status_code(exc)
    if code == 503:
        return JSONResponse(status_code=code, content={"detail": str(exc), "retryable": True},
                            headers={"Retry-After": str(RETRY_AFTER_S)})
    return JSONResponse(status_code=code, content={"detail": str(exc)})


def install(app: FastAPI) -> None:
    app.add_exception_handler(BciStreamError, bci_stream_error)
