"""``evaluate`` scores class decoders: a model's outputs must be class probabilities (``output.kind``
``categorical``). A regression head's values (``gaussian``, ``poisson``: e.g. cursor velocities) were scored offline
as if they were classes, with no word, and refused by ``--live`` only after the service had started, in the HTTP API's
words (audit s61train F9): both are refused now, before any file is read."""

from __future__ import annotations

from collections.abc import Sequence

from bci_stream.core.errors import ModelError


def class_outputs(ref: str, kind: str | None, labels: Sequence[str]) -> list[str]:
    """``labels``, the classes ``evaluate`` scores, when ``kind`` (the card's ``output.kind``, a checkpoint's head)
    is ``categorical``; else :class:`ModelError` naming the model, the rule and its kind."""
    if kind not in (None, "categorical"):
        raise ModelError(f"model {ref!r}: evaluate scores class decoders (output.kind 'categorical': class "
                         f"probabilities), and its outputs {list(labels)} are {kind!r} values; score them with your "
                         "own code (the decoded stream carries them)")
    return list(labels)
