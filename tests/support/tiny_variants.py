"""Tiny random-weight GRUs that differ from ``export_tiny``'s in one thing: channels, rate or outputs."""

from __future__ import annotations

from pathlib import Path

from support.common import TINY_CH_NAMES, TINY_SFREQ


def export_variant(out_dir: Path, name: str, ch_names: list[str] | None = None, sfreq: float = TINY_SFREQ,
                   labels: list[str] | None = None, seed: int = 1) -> None:
    """Export model ``name`` reading ``ch_names`` (default: the tiny ones) at ``sfreq``, outputs ``labels``
    (default: ``export_tiny``'s ``rest, left, right``)."""
    import torch

    from bci_stream.dsp.preprocess import PreprocessingConfig
    from bci_stream.train.export.onnx_export import export_model
    from bci_stream.train.nets.rnn import CausalRNN

    ch_names = list(ch_names or TINY_CH_NAMES)
    labels = list(labels or ["rest", "left", "right"])
    torch.manual_seed(seed)
    model = CausalRNN(len(ch_names), len(labels), hidden_size=16, n_layers=2, cell="gru", head="categorical")
    pre = PreprocessingConfig(bandpass=(1.0, 40.0), mean=[0.0] * len(ch_names), std=[10.0] * len(ch_names))
    export_model(model, out_dir / name, name=name, version="1.0.0", ch_names=ch_names, sfreq=sfreq,
                 output_labels=labels, preprocessing=pre, training={"data": "random weights, test fixture"})
