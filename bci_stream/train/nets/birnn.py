"""Bidirectional recurrent decoders, optionally limited to a lookahead of K samples. Offline only.

A :class:`BiRNN` has two stacks fused at the readout (late fusion): a *forward* stack, causal, whose
state can be carried across windows like :class:`~bci_stream.train.nets.rnn.CausalRNN`, and a *backward*
stack that reads the future:

* ``lookahead=None``: the classic bidirectional model; the backward stack runs from the end of the
  available data back to ``t``, so the output at ``t`` depends on the whole sequence.
* ``lookahead=K``: the backward stack is restarted from a zero state at ``t + K`` for every ``t`` and
  runs back to ``t``, so the output at ``t`` depends on ``x[.. t+K]`` only. Deployed, such a decoder
  could answer for ``t`` once ``x[t+K]`` arrives: ``K / sfreq`` seconds of added latency. Near the end
  of the data the window is cut at the last sample (it never reads past what exists).

The cost of the bounded lookahead is one backward run of ``K + 1`` steps per output; training can
compute it on a subset of positions (``positions``) to keep it cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bci_stream.train.nets.dropout import Masks, apply_mask, sample_masks
from bci_stream.train.nets.heads import check_head, inverse_link
from bci_stream.train.nets.rnn import Cell, Head


class BiRNN(nn.Module):
    """Forward (causal) + backward (future, unbounded or ``lookahead`` samples) GRU/LSTM stacks.

    Parameters
    ----------
    n_chans, n_outputs, hidden_size, n_layers, cell, head, hidden_sizes
        As for :class:`~bci_stream.train.nets.rnn.CausalRNN`; each direction has ``n_layers`` of
        ``hidden_size`` units, or one layer per entry of ``hidden_sizes``, and the readout sees the top
        layer of both (``2 * hidden_sizes[-1]``). The forward state is ``[L, B, max(hidden_sizes)]``, narrower
        layers zero-padded, as for the causal net.
    lookahead
        None for an unbounded future, else K >= 0 samples.
    dropout, input_dropout
        Variational dropout (one mask per sequence) before the readout and on the input channels.
    power_filters
        As for :class:`~bci_stream.train.nets.rnn.CausalRNN`: both stacks read the squares of F learned
        spatial filters (shared) instead of the channels.
    """

    def __init__(self, n_chans: int, n_outputs: int, hidden_size: int = 64, n_layers: int = 1, cell: Cell = "gru",
                 head: Head = "categorical", *, hidden_sizes: Sequence[int] | None = None,
                 lookahead: int | None = None, dropout: float = 0.0, input_dropout: float = 0.0,
                 power_filters: int = 0) -> None:
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        check_head(head)
        if lookahead is not None and lookahead < 0:
            raise ValueError(f"lookahead must be None (unbounded) or >= 0 samples, got {lookahead}")
        for pname, p in (("dropout", dropout), ("input_dropout", input_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{pname} must be in [0, 1), got {p}")
        sizes = [int(s) for s in hidden_sizes] if hidden_sizes is not None else [hidden_size] * n_layers
        if not sizes or any(s < 1 for s in sizes):
            raise ValueError(f"hidden_sizes must be one or more widths >= 1, got {sizes}")
        rnn_cls = nn.GRU if cell == "gru" else nn.LSTM
        self.cell, self.head = cell, head
        self.n_chans, self.n_outputs = n_chans, n_outputs
        self.hidden_sizes = sizes
        self.hidden_size, self.n_layers = max(sizes), len(sizes)
        self.lookahead = lookahead
        self.dropout, self.input_dropout = float(dropout), float(input_dropout)
        self.power_filters = int(power_filters)
        self.spatial = nn.Linear(n_chans, power_filters, bias=False) if power_filters else None
        n_in = power_filters or n_chans
        if len(set(sizes)) == 1:  # one multi-layer module per direction (the original layout)
            self.fwd = rnn_cls(n_in, sizes[0], num_layers=len(sizes), batch_first=True)
            self.bwd = rnn_cls(n_in, sizes[0], num_layers=len(sizes), batch_first=True)
        else:
            ins = [n_in, *sizes[:-1]]
            self.fwd = nn.ModuleList(rnn_cls(i, o, batch_first=True) for i, o in zip(ins, sizes))
            self.bwd = nn.ModuleList(rnn_cls(i, o, batch_first=True) for i, o in zip(ins, sizes))
        self.readout = nn.Linear(2 * sizes[-1], n_outputs)

    exportable = False

    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this module (for checkpoints)."""
        return {"n_chans": self.n_chans, "n_outputs": self.n_outputs, "hidden_sizes": list(self.hidden_sizes),
                "cell": self.cell, "head": self.head, "lookahead": self.lookahead,
                "dropout": self.dropout, "input_dropout": self.input_dropout, "power_filters": self.power_filters}

    @property
    def future_needed(self) -> int | None:
        """Samples of future context the backward stack reads past an output (None: all there is)."""
        return self.lookahead

    def zero_state(self, batch_size: int = 1) -> tuple[torch.Tensor, ...]:
        """State of the forward stack: ``(h0,)`` or ``(h0, c0)``, each ``[L, B, H]`` zeros."""
        shape = (self.n_layers, batch_size, self.hidden_size)
        return tuple(torch.zeros(shape) for _ in range(2 if self.cell == "lstm" else 1))

    def new_masks(self, batch_size: int, generator: torch.Generator | None = None) -> Masks:
        sites = {"input": (self.n_chans, self.input_dropout), "readout": (2 * self.hidden_sizes[-1], self.dropout)}
        return sample_masks(sites, batch_size, generator=generator)

    def _run(self, rnn: nn.Module, x: torch.Tensor, state: tuple[torch.Tensor, ...] | None):
        if isinstance(rnn, nn.ModuleList):
            return self._run_layers(rnn, x, state)
        if self.cell == "lstm":
            z, (h, c) = rnn(x, (state[0], state[1])) if state else rnn(x)
            return z, (h, c)
        z, h = rnn(x, state[0]) if state else rnn(x)
        return z, (h,)

    def _run_layers(self, layers: nn.ModuleList, x: torch.Tensor, state: tuple[torch.Tensor, ...] | None):
        """Layer by layer (per-layer widths); the state rows ``[L, B, H]`` zero-padded to the widest layer."""
        outs: list[list[torch.Tensor]] = [[], []] if self.cell == "lstm" else [[]]
        z = x
        for k, (layer, size) in enumerate(zip(layers, self.hidden_sizes)):
            h0 = tuple(s[k:k + 1, :, :size].contiguous() for s in state) if state else None
            if self.cell == "lstm":
                z, new = layer(z, h0) if h0 else layer(z)
            else:
                z, hn = layer(z, h0[0]) if h0 else layer(z)
                new = (hn,)
            for i, s in enumerate(new):
                outs[i].append(F.pad(s, (0, self.hidden_size - size)) if size < self.hidden_size else s)
        return z, tuple(torch.cat(o, dim=0) for o in outs)

    def _backward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Backward-stack output ``[B, P, H]`` at ``positions`` (sorted, within ``x``'s length)."""
        n_times = x.shape[1]
        if self.lookahead is None:
            z, _ = self._run(self.bwd, x.flip(1), None)
            return z.flip(1)[:, positions]
        k = self.lookahead
        full = positions[positions + k < n_times]  # whole window x[p .. p+K] exists
        tail = positions[positions + k >= n_times]  # window cut at the last sample
        parts = []
        if len(full):
            win = x.unfold(1, k + 1, 1)[:, full]  # [B, P, C, K+1]
            b, p = win.shape[:2]
            win = win.permute(0, 1, 3, 2).reshape(b * p, k + 1, x.shape[2]).flip(1)  # x[p+K], ..., x[p]
            z, _ = self._run(self.bwd, win, None)
            parts.append(z[:, -1].reshape(b, p, -1))
        if len(tail):
            # From a zero state at the last sample back to p: exactly the cut window x[p .. end].
            start = int(tail[0])
            z, _ = self._run(self.bwd, x[:, start:].flip(1), None)
            parts.append(z.flip(1)[:, tail - start])
        return torch.cat(parts, dim=1)

    def encode(self, x: torch.Tensor, *state: torch.Tensor, n_out: int | None = None, masks: Masks | None = None,
               positions: torch.Tensor | None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Readout pre-activations and the forward stack's next state.

        Parameters
        ----------
        x
            ``[B, T, C]``: ``n_out`` samples to decode, then any future context (read only by the
            backward stack).
        state
            Forward-stack state carried from the previous window (zeros when omitted).
        n_out
            How many leading samples of ``x`` to decode (default all); the forward state returned is
            the one after them.
        masks
            Variational dropout masks (:meth:`new_masks`), used in training mode.
        positions
            Sorted sample indices in ``[0, n_out)`` to compute outputs for (default all).

        Returns
        -------
        eta, state
            ``[B, len(positions), K]`` pre-activations and the forward state after ``n_out`` samples.
        """
        n_out = x.shape[1] if n_out is None else n_out
        if not 0 < n_out <= x.shape[1]:
            raise ValueError(f"n_out must be in 1..{x.shape[1]} (the samples of x), got {n_out}")
        if positions is None:
            positions = torch.arange(n_out)
        if self.training and (self.dropout > 0 or self.input_dropout > 0):
            masks = masks if masks is not None else self.new_masks(x.shape[0])
        else:
            masks = None
        x = apply_mask(x, masks, "input")
        if self.spatial is not None:
            x = self.spatial(x).square()
        z_fwd, new_state = self._run(self.fwd, x[:, :n_out], state or None)
        z = torch.cat([z_fwd[:, positions], self._backward(x, positions)], dim=-1)
        return self.readout(apply_mask(z, masks, "readout")), new_state

    def link(self, eta: torch.Tensor) -> torch.Tensor:
        return inverse_link(self.head, eta)

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(y, *forward_state)`` over the whole of ``x``; ``y`` after the link function."""
        eta, new_state = self.encode(x, *state)
        return (self.link(eta), *new_state)
