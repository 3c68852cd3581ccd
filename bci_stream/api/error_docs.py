"""The error answers each route may give, declared in ``/openapi.json`` (a client generator or validator reads them
there): ``{"detail": message}``, with ``"retryable": true`` when a retry may cure it (:mod:`bci_stream.api.errors`).

A 422 is FastAPI's own (``detail``: a list of ``loc``, ``msg``, ``type``), declared by FastAPI on every route that
takes input.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorAnswer(BaseModel):
    """An error answer other than a 422."""

    detail: str = Field(description="What is wrong, in words.")
    retryable: bool | None = Field(default=None, description="true when the same request may succeed if sent again "
                                   "(409: the decoder is busy or not running yet; 503: wait Retry-After seconds).")


#: What each status code means on this API.
MEANINGS: dict[int, str] = {
    401: "The service has a token (BCI_STREAM_TOKEN) and the request gave none or another (Authorization: Bearer "
         "<token>, or ?token=).",
    404: "No such decoder, model or recording.",
    409: "The decoder cannot take the command now: still starting or connecting, another swap loading, or its worker "
         "ended before it answered (retryable: true); or it is being stopped (a DELETE in progress, state stopping: a "
         "second DELETE too) or was stopped meanwhile.",
    413: "The body is larger than max_request_bytes (chunked or not).",
    421: "The request's Host (or a WebSocket's Origin) names another host than this service's, which has no token and "
         "listens on this host's loopback only (DNS rebinding, a page of another site).",
    429: "A cap of the service is reached: max_decoders decoders are listed (POST /decoders), or max_recordings "
         "recordings are searching or recording (POST /recordings). Not retryable as such: DELETE one no longer "
         "needed, or raise the setting the message names.",
    431: "The request line and headers are larger than 16 KiB.",
    503: "The server cannot do it now (out of memory or file descriptors, a storage error, shutting down, more than "
         "http_max_connections connections open): retry after Retry-After seconds (retryable: true).",
    504: "The decoder's worker did not answer in time (10 s; a swap 60 s): nothing changed.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route that may answer ``codes``."""
    return {code: {"model": ErrorAnswer, "description": MEANINGS[code]} for code in codes}
