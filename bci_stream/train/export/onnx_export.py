"""Export a :class:`~bci_stream.train.nets.rnn.CausalRNN` as a step graph with its model card. Needs ``train``.

torch exports the network (the recurrent core); :mod:`bci_stream.train.export.step_graph` puts the card's
preprocessing in front and writes the folder. Export refuses to write unless parity holds: the written
graph stepping one raw sample at a time vs the float64 preprocessor and torch over the full sequence.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from bci_stream.core.errors import ModelError
from bci_stream.train.export.parity_signal import eeg_sized
from bci_stream.train.export.step_graph import recurrent_graphs, write_model
from bci_stream.core.card import Architecture, ModelCard, OutputSpec
from bci_stream.train.nets.rnn import CausalRNN
from bci_stream.dsp.preprocess import PreprocessingConfig, Preprocessor

OPSET = 17


def _export_graph(model: CausalRNN, path: Path) -> None:
    state_in = ["h0", "c0"] if model.cell == "lstm" else ["h0"]
    state_out = ["hn", "cn"] if model.cell == "lstm" else ["hn"]
    dynamic = {"x": {0: "B", 1: "T"}, "y": {0: "B", 1: "T"}}
    dynamic.update({n: {1: "B"} for n in state_in + state_out})
    args = (torch.zeros(1, 2, model.n_chans), *model.zero_state(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            args,
            str(path),
            input_names=["x", *state_in],
            output_names=["y", *state_out],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )


def export_model(
    model: CausalRNN,
    out_dir: Path | str,
    *,
    name: str,
    version: str,
    ch_names: list[str],
    sfreq: float,
    output_labels: list[str],
    preprocessing: PreprocessingConfig,
    unit: str = "microvolts",
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    parity_samples: int = 1000,
    parity_tolerance: float = 1e-4,
) -> ModelCard:
    """Write the step graph ``out_dir/model.onnx`` (preprocessing + the network) and ``model.json``.

    Raises
    ------
    ModelError
        If the written step graph, run one sample at a time, does not reproduce the float64
        :class:`Preprocessor` followed by torch over the whole sequence within ``parity_tolerance``
        (nothing is written), or the model cannot be streamed.
    """
    if len(ch_names) != model.n_chans:
        raise ValueError(f"ch_names must have n_chans={model.n_chans} entries, got {len(ch_names)}")
    if len(output_labels) != model.n_outputs:
        raise ValueError(f"output_labels must have n_outputs={model.n_outputs} entries, got {len(output_labels)}")
    if not getattr(model, "exportable", True):
        raise ModelError(f"export of {name}@{version} refused: {_offline_only_reason(model)}, which the service's "
                         "streaming contract cannot run; it is offline-only: only causal nets deploy (export the "
                         "run's 'causal' or 'distilled' checkpoint)")
    model = model.eval()
    arch = Architecture(**(model.architecture() if hasattr(model, "architecture") else
                           dict(cell=model.cell, n_layers=model.n_layers, hidden_size=model.hidden_size)))
    card_fields = dict(
        name=name,
        version=version,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        architecture=arch,
        n_chans=model.n_chans,
        ch_names=list(ch_names),
        sfreq=float(sfreq),
        unit=unit,
        preprocessing=preprocessing,
        output=OutputSpec(kind=model.head, labels=list(output_labels)),
        training=training or {},
        metrics=metrics or {},
    )
    with tempfile.TemporaryDirectory() as tmp:
        core_path = Path(tmp) / "core.onnx"
        _export_graph(model, core_path)
        core = onnx.load(str(core_path))
    proto, spec, single = recurrent_graphs(core, preprocessing, model.n_chans, float(sfreq), model.n_outputs,
                                           arch.cell, arch.n_layers, arch.hidden_size)

    def reference(x: np.ndarray) -> np.ndarray:
        z = Preprocessor(preprocessing, model.n_chans, float(sfreq)).process(x.astype(np.float64))
        with torch.no_grad():
            return model(torch.from_numpy(z)[None])[0][0].numpy()

    x = eeg_sized(parity_samples, model.n_chans, unit)
    return write_model(proto, spec, out_dir, card_fields, reference, parity_input=x,
                       parity_tolerance=parity_tolerance, single=single)


def _offline_only_reason(model: Any) -> str:
    """Why ``model`` cannot stream: it reads the future (a BiRNN), or its state is more than h0/c0."""
    if hasattr(model, "lookahead"):  # a BiRNN
        k = model.lookahead
        return (f"{type(model).__name__} reads the future (" + ("bidirectional over the whole recording" if k is None
                                                              else f"lookahead K={k} samples") + ")")
    window = getattr(model, "attention_window", 0)
    return (f"{type(model).__name__} carries state beyond h0/c0 (attention window {window})" if window
            else f"{type(model).__name__} is not exportable")
