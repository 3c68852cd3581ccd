"""The recurrent network of a deployed step graph, as the analyses need it: checked and loaded.

Both analyses of :mod:`bci_stream.analysis.introspect` take a registry entry whose card describes a
recurrent network (``architecture.family == "recurrent"``) and run its step graph ``model.onnx``
(card format 2, see :mod:`bci_stream.core.contract`) through
:class:`~bci_stream.engine.step_model.StepModel`. This module checks the entry and the recurrent
states the card declares.
"""

from __future__ import annotations

from bci_stream.core.contract import StateSpec
from bci_stream.engine.step_model import StepModel
from bci_stream.core.errors import ModelError
from bci_stream.core.registry import ModelEntry

__all__ = ["check_entry", "check_recurrent", "recurrent_step_model"]


def check_entry(entry: object) -> ModelEntry:
    """``entry`` itself if it is a :class:`ModelEntry` (from :meth:`ModelRegistry.get`); ValueError otherwise."""
    if not isinstance(entry, ModelEntry):
        raise ValueError(f"entry must be a ModelEntry (from ModelRegistry.get), got {type(entry).__name__}")
    return entry


def check_recurrent(entry: ModelEntry) -> None:
    """Raise :class:`ModelError` unless the card's ``architecture.family`` is ``"recurrent"`` with one width
    for all layers (the analyses read every layer's state as ``hidden_size`` units)."""
    arch = entry.card.architecture
    if arch.family != "recurrent":
        raise ModelError(
            f"model '{entry.card.ref}': inspect analyses the nets `bci-stream train` makes (architecture.family "
            f"'recurrent'), got family {arch.family!r}" + (" (a GRU residual on a classical decoder: not analysed)"
                                                          if arch.family == "csp_gru" else "")
        )
    sizes = (arch.model_extra or {}).get("hidden_sizes")
    if sizes is not None and len(set(sizes)) > 1:
        raise ModelError(
            f"model '{entry.card.ref}': inspect does not support layers of different widths "
            f"(architecture.hidden_sizes={sizes}); it needs one hidden size for every layer. The model itself "
            f"is fine and runs in the service"
        )


def recurrent_step_model(entry: ModelEntry) -> tuple[StepModel, list[StateSpec]]:
    """The model's step graph and its recurrent states (``h0``, then ``c0`` for an LSTM), checked.

    Every recurrent state must be ``[L, 1, H]`` (streams on axis 1) with the card's ``L`` and ``H``.
    """
    check_recurrent(entry)
    card = entry.card
    model = StepModel(entry.onnx_path, card)
    arch = card.architecture
    recurrent = [s for s in model.spec.states if s.role == "recurrent"]
    want = (["h0", "c0"] if arch.cell == "lstm" else ["h0"])
    got = [s.name for s in recurrent]
    if got != want:
        raise ModelError(f"model '{card.ref}': a {arch.cell} step graph must have recurrent states {want}, "
                         f"the card lists {got}")
    for s in recurrent:
        if s.shape != [arch.n_layers, 1, arch.hidden_size] or s.batch_axis != 1:
            raise ModelError(
                f"model '{card.ref}': recurrent state {s.name!r} must have shape [{arch.n_layers}, 1, "
                f"{arch.hidden_size}] with batch_axis 1 (card architecture), got {s.shape} with batch_axis "
                f"{s.batch_axis}")
    return model, recurrent
