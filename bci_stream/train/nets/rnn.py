"""Causal recurrent decoders (torch). Needs the ``train`` extra.

A :class:`CausalRNN` maps ``x [B, T, C]`` and an explicit state ``h0 [L, B, H]`` (``c0`` for LSTM) to
per-sample outputs ``y [B, T, K]`` and the next state, so that it exports to ONNX with the state as
graph inputs/outputs and can be stepped one sample at a time.

Options beyond the plain stack (all off by default, which keeps the original module layout
``rnn`` = one multi-layer ``nn.GRU``/``nn.LSTM`` and ``readout``):

* ``hidden_sizes``: layers of different widths (e.g. the classic LSTM(64) → LSTM(32)). The state
  stays one ``[L, B, max(hidden_sizes)]`` tensor; a narrower layer uses the first units of its row and
  leaves the rest at zero, so the ONNX state contract is unchanged.
* ``dropout`` / ``input_dropout``: variational dropout (:mod:`bci_stream.train.nets.dropout`), one mask per
  sequence, on each recurrent layer's input (``input_dropout`` for the channels, ``dropout`` between
  layers) and on the readout's input. Inactive in ``eval()`` mode, so it never reaches an export.
* ``power_filters``: a stateless front-end; the recurrent stack reads the squares of F learned spatial
  filters of the channels (instantaneous band power of CSP-like components, since the input is
  already band-passed) instead of the channels. Per sample, so the export contract is unchanged.
* ``attention_window``: a causal attention readout over the last W hidden states
  (:mod:`bci_stream.train.nets.attention`); steppable in torch, **offline-only** (not exportable).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from bci_stream.train.nets.attention import CausalWindowAttention
from bci_stream.train.nets.dropout import Masks, apply_mask, sample_masks
from bci_stream.train.nets.heads import check_head, inverse_link

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
    hidden_sizes
        Width of each layer; overrides ``hidden_size`` and ``n_layers`` when given.
    dropout
        Variational dropout probability between layers and before the readout.
    input_dropout
        Variational dropout probability on the input channels.
    attention_window
        0 for a plain readout, else W >= 1: causal attention over the last W hidden states
        (offline-only, see the module docstring).
    """

    def __init__(
        self,
        n_chans: int,
        n_outputs: int,
        hidden_size: int = 64,
        n_layers: int = 1,
        cell: Cell = "gru",
        head: Head = "categorical",
        *,
        hidden_sizes: Sequence[int] | None = None,
        dropout: float = 0.0,
        input_dropout: float = 0.0,
        attention_window: int = 0,
        power_filters: int = 0,
    ) -> None:
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        check_head(head)
        sizes = [int(s) for s in hidden_sizes] if hidden_sizes is not None else [hidden_size] * n_layers
        if not sizes or any(s < 1 for s in sizes):
            raise ValueError(f"hidden_sizes must be one or more widths >= 1, got {sizes}")
        for pname, p in (("dropout", dropout), ("input_dropout", input_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{pname} must be in [0, 1), got {p}")
        if power_filters < 0:
            raise ValueError(f"power_filters must be >= 0 (0 = off), got {power_filters}")
        if attention_window < 0:
            raise ValueError(f"attention_window must be >= 0 samples (0 = off), got {attention_window}")
        rnn_cls = nn.GRU if cell == "gru" else nn.LSTM
        self.cell, self.head = cell, head
        self.n_chans, self.n_outputs = n_chans, n_outputs
        self.hidden_sizes = sizes
        self.hidden_size, self.n_layers = max(sizes), len(sizes)
        self.dropout, self.input_dropout = float(dropout), float(input_dropout)
        self.attention_window = int(attention_window)
        self.power_filters = int(power_filters)
        # Optional stateless front-end: squares of learned spatial filters (band power, CSP-like).
        self.spatial = nn.Linear(n_chans, power_filters, bias=False) if power_filters else None
        n_in = power_filters or n_chans
        uniform = len(set(sizes)) == 1
        if uniform and (self.dropout == 0.0 or self.n_layers == 1):
            # The original layout: one cuDNN-style multi-layer module (what the bundled model uses).
            self.rnn: nn.Module = rnn_cls(n_in, self.hidden_size, num_layers=self.n_layers, batch_first=True)
        else:
            ins = [n_in, *sizes[:-1]]
            self.rnn = nn.ModuleList(rnn_cls(i, o, batch_first=True) for i, o in zip(ins, sizes))
        top = sizes[-1]
        self.attention = CausalWindowAttention(top, attention_window) if attention_window else None
        self.readout = nn.Linear(top, n_outputs)

    # -- description ---------------------------------------------------------------------------------

    @property
    def exportable(self) -> bool:
        """Whether the state fits the service's ONNX contract (``h0`` [+ ``c0``] only)."""
        return self.attention is None

    def architecture(self) -> dict[str, Any]:
        """Card fields of :class:`bci_stream.core.card.Architecture` (extras only when used)."""
        arch: dict[str, Any] = {"cell": self.cell, "n_layers": self.n_layers, "hidden_size": self.hidden_size}
        if len(set(self.hidden_sizes)) > 1:
            arch["hidden_sizes"] = list(self.hidden_sizes)
        if self.attention is not None:
            arch["attention_window"] = self.attention_window
        if self.spatial is not None:
            arch["power_filters"] = self.power_filters
        return arch

    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this module (for checkpoints)."""
        return {
            "n_chans": self.n_chans, "n_outputs": self.n_outputs, "cell": self.cell, "head": self.head,
            "hidden_sizes": list(self.hidden_sizes), "dropout": self.dropout,
            "input_dropout": self.input_dropout, "attention_window": self.attention_window,
            "power_filters": self.power_filters,
        }

    # -- state and dropout ---------------------------------------------------------------------------

    def zero_state(self, batch_size: int = 1) -> tuple[torch.Tensor, ...]:
        """``(h0,)`` or ``(h0, c0)``, each ``[L, B, H]`` zeros, plus the attention window if any."""
        shape = (self.n_layers, batch_size, self.hidden_size)
        n_arrays = 2 if self.cell == "lstm" else 1
        state = tuple(torch.zeros(shape) for _ in range(n_arrays))
        if self.attention is not None:
            state += (self.attention.zero_memory(batch_size),)
        return state

    def new_masks(self, batch_size: int, generator: torch.Generator | None = None) -> Masks:
        """Variational dropout masks for ``batch_size`` sequences (empty when dropout is off)."""
        sites = {"input": (self.n_chans, self.input_dropout), "readout": (self.hidden_sizes[-1], self.dropout)}
        for k in range(1, self.n_layers):
            sites[f"layer{k}"] = (self.hidden_sizes[k - 1], self.dropout)
        return sample_masks(sites, batch_size, generator=generator)

    # -- computation ---------------------------------------------------------------------------------

    def encode(self, x: torch.Tensor, *state: torch.Tensor,
               masks: Masks | None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Readout pre-activations ``[B, T, K]`` (logits for categorical) and the next state.

        In training mode with dropout on, ``masks`` (from :meth:`new_masks`) are applied; pass the same
        masks to consecutive windows of one sequence. Without ``masks`` a fresh set is drawn per call.
        """
        if not state:
            state = self.zero_state(x.shape[0])
        n_rec = 2 if self.cell == "lstm" else 1
        rec, extra = state[:n_rec], state[n_rec:]
        if self.training and (self.dropout > 0 or self.input_dropout > 0):
            masks = masks if masks is not None else self.new_masks(x.shape[0])
        else:
            masks = None
        z = apply_mask(x, masks, "input")
        if self.spatial is not None:
            z = self.spatial(z).square()
        if isinstance(self.rnn, nn.ModuleList):
            z, new_rec = self._run_layers(z, rec, masks)
        elif self.cell == "lstm":
            z, (hn, cn) = self.rnn(z, (rec[0], rec[1]))
            new_rec = (hn, cn)
        else:
            z, hn = self.rnn(z, rec[0])
            new_rec = (hn,)
        z = apply_mask(z, masks, "readout")
        if self.attention is not None:
            z, mem = self.attention(z, extra[0])
            return self.readout(z), (*new_rec, mem)
        return self.readout(z), new_rec

    def _run_layers(self, z: torch.Tensor, rec: tuple[torch.Tensor, ...],
                    masks: Masks | None) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Layer by layer (per-layer widths and/or dropout between layers); state rows zero-padded to H."""
        outs: list[list[torch.Tensor]] = [[] for _ in rec]
        for k, layer in enumerate(self.rnn):
            size = self.hidden_sizes[k]
            if k:
                z = apply_mask(z, masks, f"layer{k}")
            h0 = [s[k : k + 1, :, :size].contiguous() for s in rec]
            if self.cell == "lstm":
                z, (hn, cn) = layer(z, (h0[0], h0[1]))
                new = (hn, cn)
            else:
                z, hn = layer(z, h0[0])
                new = (hn,)
            for i, s in enumerate(new):
                outs[i].append(F.pad(s, (0, self.hidden_size - size)) if size < self.hidden_size else s)
        return z, tuple(torch.cat(o, dim=0) for o in outs)

    def link(self, eta: torch.Tensor) -> torch.Tensor:
        """The head's inverse link: probabilities, values or rates."""
        return inverse_link(self.head, eta)

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(y, hn)`` for a GRU, ``(y, hn, cn)`` for an LSTM; ``y`` after the link function."""
        eta, new_state = self.encode(x, *state)
        return (self.link(eta), *new_state)
