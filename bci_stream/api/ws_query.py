"""The query of a WebSocket route, checked by the route itself so that a bad one can be answered readably.

FastAPI refuses a WebSocket whose query fails validation by closing it before the handshake completes: the
client sees a bare HTTP 403 and no reason. The routes here accept first and then close with code 1008 (policy
violation) and a reason naming the parameter, the rule and the bad value (a close reason holds at most 123
bytes, so a long value is shortened). A parameter the route does not know (a typo: ``?decimat=5`` was ignored, and
the client got every row) or one given twice (the last one was taken) is refused the same way, as is an integer
written other than in plain digits (``1_0`` and ``+5`` were read as Python reads them).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from starlette.datastructures import QueryParams

WS_POLICY_VIOLATION = 1008
MAX_REASON_BYTES = 123
TRUE = ("1", "true", "on", "yes")
FALSE = ("0", "false", "off", "no")
DIGITS = re.compile(r"-?[0-9]+")


class QueryError(ValueError):
    """A bad query parameter; its message is the close reason."""


def _shown(value: str, limit: int = 24) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def reason(message: str) -> str:
    """``message`` cut to what a WebSocket close frame carries (123 bytes of UTF-8)."""
    data = message.encode()
    if len(data) <= MAX_REASON_BYTES:
        return message
    return data[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


def check_names(params: QueryParams, known: Collection[str]) -> None:
    """QueryError for the first parameter of ``params`` not in ``known``, or given more than once."""
    for name in dict.fromkeys(params.keys()):
        if name not in known:
            raise QueryError(f"unknown query parameter {_shown(name)}: known are {', '.join(sorted(known))}")
        if len(params.getlist(name)) > 1:
            raise QueryError(f"{name} must be given once, got {len(params.getlist(name))} values")


def query_int(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """Query parameter ``name`` as an integer in [lo, hi] (``default`` when absent); QueryError otherwise."""
    raw = params.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if not DIGITS.fullmatch(text) or len(text) > 20 or not lo <= int(text) <= hi:
        raise QueryError(f"{name} must be an integer from {lo} to {hi}, got {_shown(raw)}")
    return int(text)


def query_bool(params: Mapping[str, str], name: str, default: bool) -> bool:
    """Query parameter ``name`` as a boolean (true/false, 1/0, on/off, yes/no); QueryError otherwise."""
    raw = params.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE or word in FALSE:
        return word in TRUE
    raise QueryError(f"{name} must be true or false (or 1/0, on/off, yes/no), got {_shown(raw)}")
