"""Named architectures, so a config can say ``preset = "stacked_lstm"`` instead of spelling one out.

``stacked_lstm`` reproduces the classic EEG classifier of two stacked LSTMs of 64 and 32 units
followed by a dense softmax layer. The classic version is many-to-one (it reads the softmax after the
last sample of an epoch); here the same stack emits the softmax at every sample, so reading it at
``onset + t`` is that classifier applied to the data up to ``t`` seconds after the cue, and it runs
online like any :class:`~bci_stream.train.nets.rnn.CausalRNN` (the 32-unit layer is zero-padded to 64 in
the ``[L, B, H]`` state, and the card records ``hidden_sizes``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch only where a net is built: the run config reads PRESETS when it is loaded
    from bci_stream.train.nets.rnn import CausalRNN

PRESETS: dict[str, dict[str, Any]] = {
    "stacked_lstm": {"cell": "lstm", "hidden_sizes": [64, 32]},
}


def preset_args(name: str) -> dict[str, Any]:
    """Constructor arguments of preset ``name``."""
    if name not in PRESETS:
        raise ValueError(f"model preset must be one of {sorted(PRESETS)}, got {name!r}")
    return dict(PRESETS[name])


def stacked_lstm_classifier(n_chans: int, n_outputs: int, dropout: float = 0.0,
                            input_dropout: float = 0.0) -> CausalRNN:
    """LSTM(64) → LSTM(32) → dense softmax, per sample."""
    from bci_stream.train.nets.rnn import CausalRNN

    return CausalRNN(n_chans, n_outputs, head="categorical", dropout=dropout, input_dropout=input_dropout,
                     **preset_args("stacked_lstm"))
