"""What a hot swap needs of the new model.

A swap keeps the decoder's stream and its output stream, so the new card must publish the same outputs and read
the stream's rate: the API checks both from the two cards before it sends the command (a permanent refusal,
422), and the worker checks them again with the channels and units of the stream (:mod:`.commands`). Which of the
worker's refusals a retry can cure is said by the refusal itself, as data (``Reply.retry``,
:class:`~bci_stream.core.messages.Retry`), never read from its text: ``busy`` (not connected yet, another swap under
way: 409) or ``unavailable`` (a model it could not load now for lack of memory or file descriptors: 503 with
``Retry-After``); anything else is 422.
"""

from __future__ import annotations

from typing import Any

from bci_stream.lsl.source import rate_mismatch


def outputs_refusal(card: Any, kind: str, labels: list[str]) -> str | None:
    """Why ``card`` cannot replace a model publishing ``kind`` ``labels`` (None: the same outputs)."""
    if card.output.labels == list(labels) and card.output.kind == kind:
        return None
    return (f"model '{card.ref}' outputs {card.output.kind} {card.output.labels}; the running decoder publishes "
            f"{kind} {list(labels)}. A hot swap keeps the output stream, so outputs must match; start a new decoder "
            "instead")


def rate_refusal(card: Any, stream_name: str, sfreq: float) -> str | None:
    """Why ``card`` cannot decode stream ``stream_name`` at ``sfreq`` Hz (None: the same rate, as ``check_stream``)."""
    why = rate_mismatch(stream_name, sfreq, card)
    return None if why is None else (f"{why}. A hot swap keeps the stream; start a new decoder on a stream at that "
                                     "rate instead")


def swap_refusal(card: Any, model: dict[str, Any] | None, stream: dict[str, Any] | None) -> str | None:
    """What the API can tell from the running decoder's status (``model``, ``stream``) before it sends a swap to
    ``card``: other outputs or another rate (None: nothing known against it, or the decoder is not running yet)."""
    if model is not None and (why := outputs_refusal(card, model["kind"], model["labels"])) is not None:
        return why
    if stream is not None and stream.get("sfreq"):
        return rate_refusal(card, stream["name"], float(stream["sfreq"]))
    return None
