"""The text an LSL stream's name, type, source_id or host name may hold here: printable (no control characters),
1 to :data:`NAME_MAX` characters. A decoder's or a recording's stream selector takes no other, and the players
(``simulate``, ``replay``) publish no other: a stream they made could otherwise be selected by nothing."""

from __future__ import annotations

import re

#: no control characters (LSL names are plain text)
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
NAME_MAX = 256


def lsl_text_problem(value: str) -> str | None:
    """What is wrong with ``value`` as an LSL name, type, source_id or host name (None: nothing)."""
    if not value.strip():
        return f"must be a non-empty name, got {value!r}"
    if len(value) > NAME_MAX or not re.fullmatch(PRINTABLE, value):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return (f"must be printable text (no control characters) of 1 to {NAME_MAX} characters, as a stream "
                f"selector takes, got {shown!r} ({len(value)} characters)")
    return None


__all__ = ["NAME_MAX", "PRINTABLE", "lsl_text_problem"]
