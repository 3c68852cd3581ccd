"""Causal recurrent decoders (torch). Needs the ``train`` extra.

A :class:`CausalRNN` maps ``x [B, T, C]`` and an explicit state ``h0 [L, B, H]`` (``c0`` for LSTM) to
per-sample outputs ``y [B, T, K]`` and the next state, so that it exports to ONNX with the state as
graph inputs/outputs and can be stepped one sample at a time.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Cell = Literal["gru", "lstm"]
Head = Literal["categorical", "gaussian", "poisson"]


class CausalRNN(nn.Module):
    """Unidirectional GRU/LSTM encoder with a linear readout and the head's link function.

    Parameters
    ----------
    n_chans
        Input channels C.
    n_outputs
        Outputs K (classes for ``categorical``).
    hidden_size, n_layers, cell
        Recurrent encoder.
    head
        Observation model: ``categorical`` (softmax), ``gaussian`` (identity), ``poisson`` (exp).
    """

    def __init__(
        self,
        n_chans: int,
        n_outputs: int,
        hidden_size: int = 64,
        n_layers: int = 1,
        cell: Cell = "gru",
        head: Head = "categorical",
    ) -> None:
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        if head not in ("categorical", "gaussian", "poisson"):
            raise ValueError(f"head must be 'categorical', 'gaussian' or 'poisson', got {head!r}")
        rnn_cls = nn.GRU if cell == "gru" else nn.LSTM
        self.cell, self.head = cell, head
        self.n_chans, self.n_outputs = n_chans, n_outputs
        self.hidden_size, self.n_layers = hidden_size, n_layers
        self.rnn = rnn_cls(n_chans, hidden_size, num_layers=n_layers, batch_first=True)
        self.readout = nn.Linear(hidden_size, n_outputs)

    def zero_state(self, batch_size: int = 1) -> tuple[torch.Tensor, ...]:
        shape = (self.n_layers, batch_size, self.hidden_size)
        n_arrays = 2 if self.cell == "lstm" else 1
        return tuple(torch.zeros(shape) for _ in range(n_arrays))

    def encode(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Readout pre-activations ``[B, T, K]`` (logits for categorical) and the next state."""
        if not state:
            state = self.zero_state(x.shape[0])
        if self.cell == "lstm":
            z, (hn, cn) = self.rnn(x, (state[0], state[1]))
            return self.readout(z), (hn, cn)
        z, hn = self.rnn(x, state[0])
        return self.readout(z), (hn,)

    def link(self, eta: torch.Tensor) -> torch.Tensor:
        """The head's inverse link: probabilities, values or rates."""
        if self.head == "categorical":
            return torch.softmax(eta, dim=-1)
        if self.head == "poisson":
            return torch.exp(eta)
        return eta

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(y, hn)`` for a GRU, ``(y, hn, cn)`` for an LSTM; ``y`` after the link function."""
        eta, new_state = self.encode(x, *state)
        return (self.link(eta), *new_state)
