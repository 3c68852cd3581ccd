"""Where typed errors become HTTP answers: one table, one handler (the runtime never names a status code)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bci_stream.core.errors import (BciStreamError, CommandRefusedError, CommandTimeoutError, DecoderNotFoundError,
                               DecoderNotReadyError, ModelError, ModelNotFoundError, PlacementError)

#: Most specific first: the first class an error is an instance of gives its status code.
STATUS_CODES: tuple[tuple[type[BciStreamError], int], ...] = (
    (DecoderNotFoundError, 404),
    (ModelNotFoundError, 404),
    (DecoderNotReadyError, 409),
    (CommandRefusedError, 409),
    (CommandTimeoutError, 504),
    (ModelError, 422),
    (PlacementError, 422),
)


def status_code(exc: BciStreamError) -> int:
    return next((code for cls, code in STATUS_CODES if isinstance(exc, cls)), 500)


async def bci_stream_error(request: Request, exc: BciStreamError) -> JSONResponse:
    return JSONResponse(status_code=status_code(exc), content={"detail": str(exc)})


def install(app: FastAPI) -> None:
    app.add_exception_handler(BciStreamError, bci_stream_error)
