"""The text an LSL stream's name, type, source_id or host name may hold here: printable (no control characters),
1 to :data:`NAME_MAX` characters. A decoder's or a recording's stream selector takes no other, and the players
(``simulate``, ``replay``) publish no other, their marker streams included: a stream they made could otherwise be
selected by nothing."""

from __future__ import annotations

import re

#: no control characters (LSL names are plain text)
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
NAME_MAX = 256
#: The suffix of a player's marker stream's name and source_id (``simulate``, ``replay``).
MARKERS_SUFFIX = "-markers"
#: The longest name or source_id a player takes: its marker stream's adds :data:`MARKERS_SUFFIX` (review s66 F4).
PLAYED_MAX = NAME_MAX - len(MARKERS_SUFFIX)


def lsl_text_problem(value: str, max_len: int = NAME_MAX) -> str | None:
    """What is wrong with ``value`` as an LSL name, type, source_id or host name (None: nothing); ``max_len``:
    :data:`PLAYED_MAX` for a player's name or source_id (its marker stream's adds ``-markers`` to it)."""
    if not value.strip():
        return f"must be a non-empty name, got {value!r}"
    if len(value) > max_len or not re.fullmatch(PRINTABLE, value):
        shown = value if len(value) <= 40 else value[:40] + "..."
        room = "" if max_len == NAME_MAX else f" with room for the {MARKERS_SUFFIX!r} of its marker stream"
        return (f"must be printable text (no control characters) of 1 to {max_len} characters, as a stream "
                f"selector takes{room}, got {shown!r} ({len(value)} characters)")
    return None


def played_source_id(derived: str) -> str:
    """A player's default source_id (``bci-stream-sim-NAME``, ``replay:FILE:NAME``) cut to :data:`PLAYED_MAX`
    characters: its streams' source_ids stay selectable (the same for the same file and name)."""
    return derived[:PLAYED_MAX]


__all__ = ["MARKERS_SUFFIX", "NAME_MAX", "PLAYED_MAX", "PRINTABLE", "lsl_text_problem", "played_source_id"]
