"""Names, data and tiny models shared by the tests."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np

#: The repository's root.
REPO = Path(__file__).resolve().parents[2]
#: The real recordings (``../shared/data`` beside the repository); ``BCI_STREAM_DATA`` overrides it.
SHARED_DATA = Path(os.environ.get("BCI_STREAM_DATA") or REPO.parent / "shared" / "data")
TINY_CH_NAMES = ["FC3", "FC4", "C3", "Cz", "C4", "CP3", "CP4", "Pz"]
TINY_SFREQ = 500.0


def unique(prefix: str = "test") -> str:
    """A stream name no other test (or a parallel CI run) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def export_tiny(out_dir: Path, name: str, cell: str = "gru", seed: int = 0, head: str = "categorical",
                n_layers: int = 2, hidden_size: int = 16) -> None:
    """A small random-weight model for 8 channels at 500 Hz, with every preprocessing stage on."""
    import torch

    from bci_stream.train.export.onnx_export import export_model
    from bci_stream.train.nets.rnn import CausalRNN
    from bci_stream.dsp.preprocess import PreprocessingConfig

    torch.manual_seed(seed)
    n_out = 3
    model = CausalRNN(len(TINY_CH_NAMES), n_out, hidden_size=hidden_size, n_layers=n_layers, cell=cell, head=head)
    rng = np.random.default_rng(seed)
    pre = PreprocessingConfig(
        bandpass=(1.0, 40.0), notch=50.0, car=True,
        mean=rng.normal(0, 0.1, len(TINY_CH_NAMES)).tolist(),
        std=rng.uniform(5, 15, len(TINY_CH_NAMES)).tolist(),
    )
    export_model(model, out_dir / name, name=name, version="1.0.0", ch_names=TINY_CH_NAMES, sfreq=TINY_SFREQ,
                 output_labels=["rest", "left", "right"], preprocessing=pre,
                 training={"data": "random weights, test fixture"})


def test_signal(n: int, seed: int = 0, n_chans: int = len(TINY_CH_NAMES)) -> np.ndarray:
    """Known EEG-like samples in µV: offsets, 10 Hz, 50 Hz and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / TINY_SFREQ
    x = 20 * rng.standard_normal((n, n_chans)) + 40 * np.sin(2 * np.pi * 10 * t)[:, None]
    x += 10 * np.sin(2 * np.pi * 50 * t)[:, None] + rng.uniform(-500, 500, n_chans)
    return x.astype(np.float32)


test_signal.__test__ = False  # a helper, not a test
