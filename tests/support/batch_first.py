"""A researcher's net that takes its recurrent state batch first (``h0 [B, L, H]``, transposed inside for torch's
GRU), exported as a card-format-1 folder: one layer, so that a probe of one stream (B = 1) cannot tell the layout from
``[L, B, H]``; two or more streams in one call fail in onnxruntime (audit s67eng F3)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from bci_stream.core.card import sha256_file

N_CHANS, HIDDEN = 4, 8


class BatchFirstState(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.GRU(N_CHANS, HIDDEN, 1, batch_first=True)
        self.head = torch.nn.Linear(HIDDEN, 2)

    def forward(self, x, h0):
        out, hn = self.rnn(x, h0.transpose(0, 1).contiguous())
        return torch.softmax(self.head(out), -1), hn.transpose(0, 1)


def export_batch_first(d: Path) -> None:
    """The net's graph as ``d/model.onnx`` (B dynamic on the state's axis 0), the card's sha256 and n_layers (1) set."""
    torch.manual_seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(BatchFirstState().eval(), (torch.zeros(1, 5, N_CHANS), torch.zeros(1, 1, HIDDEN)),
                          str(d / "model.onnx"), input_names=["x", "h0"], output_names=["y", "hn"],
                          dynamic_axes={"x": {0: "B", 1: "T"}, "y": {0: "B", 1: "T"}, "h0": {0: "B"}, "hn": {0: "B"}},
                          opset_version=17, dynamo=False)
    card = json.loads((d / "model.json").read_text())
    card["sha256"] = sha256_file(d / "model.onnx")
    card["architecture"]["n_layers"] = 1
    (d / "model.json").write_text(json.dumps(card))


def batch_first_folder(root: Path, name: str = "batch-first", sfreq: float = 100.0) -> Path:
    """A card-format-1 folder of :class:`BatchFirstState` (4 channels at ``sfreq``, outputs ``a``, ``b``)."""
    d = root / name
    d.mkdir(parents=True)
    card = {"format_version": 1, "name": name, "version": "0.9", "sha256": "0" * 64,
            "created": "2026-01-01T00:00:00+00:00",
            "architecture": {"cell": "gru", "n_layers": 1, "hidden_size": HIDDEN},
            "n_chans": N_CHANS, "ch_names": ["C3", "Cz", "C4", "Pz"], "sfreq": sfreq,
            "preprocessing": {"bandpass": [1.0, 30.0], "car": False, "mean": [0.0] * N_CHANS, "std": [5.0] * N_CHANS},
            "output": {"kind": "categorical", "labels": ["a", "b"]}, "inputs": ["x", "h0"], "outputs": ["y", "hn"]}
    (d / "model.json").write_text(json.dumps(card))
    export_batch_first(d)
    return d
