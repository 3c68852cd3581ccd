"""Keep the API token out of the service log: uvicorn logs every request's path with its query string.

Browsers cannot set headers on a WebSocket, so the dashboard sends the token as ``?token=``; uvicorn's access log
(``uvicorn.access``: ``"GET /status?token=... HTTP/1.1" 200``) and its WebSocket lines (``uvicorn.error``:
``"WebSocket /decoders/.../outputs?token=..." [accepted]``) would print it. :class:`TokenRedactor` replaces the
value with ``***`` in those records.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

#: loggers that print request paths with their query string
REQUEST_LOGGERS = ("uvicorn.access", "uvicorn.error")
REDACTED = "***"
_PARAM = re.compile(r"([?&;])([^=&;#\s\"'?]*)=([^&;#\s\"']*)")


def _redacted(m: re.Match) -> str:
    name = unquote_plus(m.group(2))  # as the server reads it: ``tok%65n=`` is ``token=``
    return f"{m.group(1)}{m.group(2)}={REDACTED}" if name.lower() == "token" else m.group(0)


def redact(text: str) -> str:
    """``text`` with the value of every ``token`` query parameter replaced by ``***``, however its name is
    percent-encoded (``?tok%65n=``: the server decodes it to ``token`` and accepts it)."""
    return _PARAM.sub(_redacted, text) if "=" in text else text


class TokenRedactor(logging.Filter):
    """A logging filter that redacts ``token=`` values in a record's message and its string arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def redact_request_logs() -> None:
    """Install :class:`TokenRedactor` on uvicorn's request loggers (once; called when the app starts, after uvicorn
    configured its logging)."""
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, TokenRedactor) for f in logger.filters):
            logger.addFilter(TokenRedactor())
