"""What LSL streams this host sees, for the error of a selector that matched none (a typo's stream first)."""

from __future__ import annotations

import difflib

import pylsl

from bci_stream.core.channels import shortlist
from bci_stream.lsl.source import described


def visible_streams(like: str, wait: float = 1.0) -> list[str]:
    """``'name' (type, n ch, rate, host)`` of every LSL stream this host sees within ``wait`` seconds, the names most
    like ``like`` first (a typo's stream leads the list)."""
    found = pylsl.resolve_streams(wait)
    found.sort(key=lambda i: (-difflib.SequenceMatcher(None, like.lower(), i.name().lower()).ratio(), i.name()))
    return [described(i) for i in found]


def not_found_message(predicate: str, timeout: float, like: str) -> str:
    """The error of a selector (``predicate``) that no stream matched within ``timeout`` s, with the streams visible
    now, those named most like ``like`` first (looked for during up to 1 s)."""
    seen = visible_streams(like)
    return (f"no LSL stream matched {predicate} within {timeout:g} s; visible streams ({len(seen)}): "
            f"{shortlist(seen, 20) or 'none'}" + (" (is the amplifier's LSL app streaming, on this network?)"
                                                  if not seen else ""))


__all__ = ["not_found_message", "visible_streams"]
