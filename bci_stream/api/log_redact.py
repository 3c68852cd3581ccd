"""Keep the API token out of the service log: uvicorn logs every request's path with its query string.

Browsers cannot set headers on a WebSocket, so the dashboard sends the token as ``?token=``; uvicorn's access log
(``uvicorn.access``: ``"GET /status?token=... HTTP/1.1" 200``) and its WebSocket lines (``uvicorn.error``:
``"WebSocket /decoders/.../outputs?token=..." [accepted]``) would print it. :class:`TokenRedactor` replaces the
value with ``***`` in those records, and the configured token's value itself wherever a client put it (another
parameter's name, a misspelt or percent-encoded one, the path: audit s46 M2), as sent or percent-decoded.

It also cuts a logged request target's path and query string to :data:`LOGGED_TARGET_CHARS` characters each (after
the redaction, so that no cut leaves part of a token): 500 unauthenticated requests with 4 kB queries added 2 MB to
the log (audit s46 security S2).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote, unquote_plus

#: loggers that print request paths with their query string
REQUEST_LOGGERS = ("uvicorn.access", "uvicorn.error")
REDACTED = "***"
#: characters of a request's path, and of its query string, that a log line shows; the rest is cut, marked
LOGGED_TARGET_CHARS = 200
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


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}...[+{len(text) - limit} chars]"


def shortened(target: str, limit: int = LOGGED_TARGET_CHARS) -> str:
    """A request target as uvicorn logs it (``/path?query``) with its path and its query string each cut to ``limit``
    characters, ``...[+N chars]`` saying how many were left out."""
    path, sep, query = target.partition("?")
    return _cut(path, limit) + sep + _cut(query, limit)


class TokenRedactor(logging.Filter):
    """A logging filter that redacts ``token=`` values, and the configured token ``secret`` anywhere, in a record's
    message and its string arguments, and cuts the arguments that are a request's to :func:`shortened`."""

    def __init__(self, secret: str | None = None) -> None:
        super().__init__()
        self.secret = secret

    def _text(self, value: object) -> object:
        return redact(value, self.secret) if isinstance(value, str) else value

    def _arg(self, value: object, access: bool) -> object:
        """A record's argument, redacted; cut when it is a request's (every string of an access or a WebSocket
        handshake line: its target in any form, origin ``/p``, absolute ``http://h/p`` or none at all, and its method;
        elsewhere a string that looks like a target). Before, only targets beginning with ``/`` were cut, and an
        absolute-form or malformed one of 8 kB, answered 404 with no token, was logged whole (review s48 F4)."""
        value = self._text(value)
        if isinstance(value, str) and (access or value.startswith("/") or "://" in value):
            return shortened(value)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._text(record.msg)
        # a request's line: the access log's, or uvicorn's WebSocket handshake line ('%s - "WebSocket %s" ...': a
        # target with neither "/" nor "://", 403 with no token, was logged whole: review s48 N2)
        access = record.name == "uvicorn.access" or '"WebSocket %s"' in str(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._arg(a, access) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._arg(v, access) for k, v in record.args.items()}
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
