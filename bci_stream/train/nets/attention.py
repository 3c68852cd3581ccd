"""A causal attention readout over a bounded window of past hidden states.

At each time step ``t`` the readout attends over the top layer's hidden states ``z[t-W+1 .. t]`` (a
window of ``W`` samples, the present included) and adds the attended context to ``z[t]`` (a residual
connection), so a decision can weigh the recent past rather than only the last state.

The window of past states is carried as an extra state tensor ``mem [B, W-1, H]`` (zeros before the
start of a recording), so the module is *steppable in torch*: windows with carried state equal one
pass over the whole sequence, and truncated BPTT works. It is **offline-only for deployment**: the
service's ONNX state contract is ``h0 [L, B, H]`` (+ ``c0``), which cannot carry ``mem``, so
:func:`bci_stream.train.export.onnx_export.export_model` refuses a model with this readout.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class CausalWindowAttention(nn.Module):
    """Scaled dot-product attention of ``z[t]`` over ``z[t-W+1 .. t]``, with a residual connection.

    Parameters
    ----------
    hidden_size
        Width H of the hidden states.
    window
        Number W >= 1 of states attended to (the present one included).
    key_size
        Width of queries and keys (default ``H``).
    """

    def __init__(self, hidden_size: int, window: int, key_size: int | None = None) -> None:
        super().__init__()
        if window < 1:
            raise ValueError(f"attention window must be >= 1 sample, got {window}")
        self.hidden_size, self.window = hidden_size, window
        self.key_size = key_size or hidden_size
        self.query = nn.Linear(hidden_size, self.key_size)
        self.key = nn.Linear(hidden_size, self.key_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, hidden_size)

    def zero_memory(self, batch_size: int) -> torch.Tensor:
        """The carried window before any sample: ``[B, W-1, H]`` zeros."""
        return torch.zeros(batch_size, self.window - 1, self.hidden_size)

    def forward(self, z: torch.Tensor, mem: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z [B, T, H]`` and the carried ``mem [B, W-1, H]`` → ``(out [B, T, H], next mem)``."""
        w = self.window
        seq = torch.cat([mem, z], dim=1)  # [B, W-1+T, H]: position W-1+t is time t
        keys = self.key(seq).unfold(1, w, 1)  # [B, T, Dk, W]: the window ending at each t
        values = self.value(seq).unfold(1, w, 1)  # [B, T, H, W]
        query = self.query(z)  # [B, T, Dk]
        scores = torch.einsum("btd,btdw->btw", query, keys) / math.sqrt(self.key_size)
        context = torch.einsum("btw,bthw->bth", torch.softmax(scores, dim=-1), values)
        next_mem = seq[:, seq.shape[1] - (w - 1):] if w > 1 else mem
        return z + self.out(context), next_mem
