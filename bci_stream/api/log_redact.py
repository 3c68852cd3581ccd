"""Keep the API token out of the service log: uvicorn logs every request's path with its query string.

Browsers cannot set headers on a WebSocket, so the dashboard sends the token as ``?token=``; uvicorn's access log
(``uvicorn.access``: ``"GET /status?token=... HTTP/1.1" 200``) and its WebSocket lines (``uvicorn.error``:
``"WebSocket /decoders/.../outputs?token=..." [accepted]``) would print it. :class:`TokenRedactor` replaces the
value with ``***`` in those records, and the configured token's value itself wherever a client put it (another
parameter's name, a misspelt or percent-encoded one, the path: audit s46 M2), as sent or percent-decoded.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote, unquote_plus

#: loggers that print request paths with their query string
REQUEST_LOGGERS = ("uvicorn.access", "uvicorn.error")
REDACTED = "***"
_PARAM = re.compile(r"([?&;])([^=&;#\s\"'?]*)=([^&;#\s\"']*)")


def _redacted(m: re.Match) -> str:
    name = unquote_plus(m.group(2))  # as the server reads it: ``tok%65n=`` is ``token=``
    return f"{m.group(1)}{m.group(2)}={REDACTED}" if name.lower() == "token" else m.group(0)


def redact(text: str, secret: str | None = None) -> str:
    """``text`` with the value of every ``token`` query parameter replaced by ``***``, however its name is
    percent-encoded (``?tok%65n=``: the server decodes it to ``token`` and accepts it), and with ``secret`` (the
    configured token) replaced wherever it is, as written or percent-encoded (the text is then logged decoded)."""
    text = _PARAM.sub(_redacted, text) if "=" in text else text
    if secret:
        text = text.replace(secret, REDACTED)
        if "%" in text and secret in (decoded := unquote(text)):
            text = decoded.replace(secret, REDACTED)
    return text


class TokenRedactor(logging.Filter):
    """A logging filter that redacts ``token=`` values, and the configured token ``secret`` anywhere, in a record's
    message and its string arguments."""

    def __init__(self, secret: str | None = None) -> None:
        super().__init__()
        self.secret = secret

    def _text(self, value: object) -> object:
        return redact(value, self.secret) if isinstance(value, str) else value

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._text(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._text(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._text(v) for k, v in record.args.items()}
        return True


def redact_request_logs(secret: str | None = None) -> None:
    """Install :class:`TokenRedactor` on uvicorn's request loggers, for the configured token ``secret`` (once per
    logger, its secret updated; called when the app starts, after uvicorn configured its logging)."""
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        found = [f for f in logger.filters if isinstance(f, TokenRedactor)]
        if found:
            found[0].secret = secret
        else:
            logger.addFilter(TokenRedactor(secret))
