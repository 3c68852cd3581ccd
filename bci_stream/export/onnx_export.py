"""Export a :class:`~bci_stream.nets.rnn.CausalRNN` to ONNX with its model card. Needs ``train``.

Export refuses to write unless parity holds: torch over the full sequence vs onnxruntime stepping one
sample at a time with carried state.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from bci_stream.errors import ModelError
from bci_stream.inference.card import CARD_FILE, ONNX_FILE, Architecture, ModelCard, OutputSpec, Parity, sha256_file
from bci_stream.inference.decoder import Decoder
from bci_stream.nets.rnn import CausalRNN
from bci_stream.signal.preprocess import PreprocessingConfig

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


def check_parity(model: CausalRNN, decoder: Decoder, n_samples: int = 1000, seed: int = 0) -> float:
    """Max abs difference between torch (full sequence) and ONNX (one sample at a time)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, model.n_chans)).astype(np.float32)
    with torch.no_grad():
        y_ref = model(torch.from_numpy(x)[None])[0][0].numpy()
    state = decoder.new_state()
    y_step = np.concatenate([decoder.run(x[t : t + 1], state) for t in range(n_samples)])
    return float(np.abs(y_step - y_ref).max())


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
    """Write ``out_dir/model.onnx`` and ``out_dir/model.json``; return the card.

    Raises
    ------
    ModelError
        If the ONNX graph does not reproduce torch within ``parity_tolerance`` (nothing is written).
    """
    if len(ch_names) != model.n_chans:
        raise ValueError(f"ch_names must have n_chans={model.n_chans} entries, got {len(ch_names)}")
    if len(output_labels) != model.n_outputs:
        raise ValueError(f"output_labels must have n_outputs={model.n_outputs} entries, got {len(output_labels)}")
    if not getattr(model, "exportable", True):
        raise ModelError(
            f"export of {name}@{version} refused: {type(model).__name__} carries state beyond h0/c0 (attention window) "
            f"or reads the future, which the service's streaming contract cannot run; it is offline-only"
        )
    model = model.eval()
    out_dir = Path(out_dir)
    card_fields = dict(
        name=name,
        version=version,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        architecture=Architecture(**(model.architecture() if hasattr(model, "architecture") else
                                     dict(cell=model.cell, n_layers=model.n_layers, hidden_size=model.hidden_size))),
        n_chans=model.n_chans,
        ch_names=list(ch_names),
        sfreq=float(sfreq),
        unit=unit,
        preprocessing=preprocessing,
        output=OutputSpec(kind=model.head, labels=list(output_labels)),
        inputs=["x", "h0", "c0"] if model.cell == "lstm" else ["x", "h0"],
        outputs=["y", "hn", "cn"] if model.cell == "lstm" else ["y", "hn"],
        training=training or {},
        metrics=metrics or {},
    )
    with tempfile.TemporaryDirectory() as tmp:
        onnx_tmp = Path(tmp) / ONNX_FILE
        _export_graph(model, onnx_tmp)
        proto = onnx.load(str(onnx_tmp))
        meta = {
            "name": name,
            "version": version,
            "n_chans": str(model.n_chans),
            "sfreq": repr(float(sfreq)),
            "ch_names": json.dumps(list(ch_names)),
            "output_kind": model.head,
            "output_labels": json.dumps(list(output_labels)),
        }
        onnx.helper.set_model_props(proto, meta)
        proto.doc_string = f"bci-stream causal {model.cell.upper()} decoder {name}@{version}"
        onnx.save(proto, str(onnx_tmp))
        draft = ModelCard(sha256=sha256_file(onnx_tmp), **card_fields)
        diff = check_parity(model, Decoder(onnx_tmp, draft), n_samples=parity_samples)
        if not diff <= parity_tolerance:
            raise ModelError(
                f"export of {name}@{version} refused: ONNX step-by-step output differs from torch by "
                f"{diff:.3g} (tolerance {parity_tolerance:g}) over {parity_samples} samples"
            )
        card = draft.model_copy(
            update={"parity": Parity(n_samples=parity_samples, max_abs_diff=diff, tolerance=parity_tolerance)}
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(onnx_tmp, out_dir / ONNX_FILE)
    (out_dir / CARD_FILE).write_text(card.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return card
