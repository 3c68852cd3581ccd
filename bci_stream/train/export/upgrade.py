"""Upgrade a model folder of card format 1 (a bare recurrent graph) to a step graph (format 2).

Offline, with the ``train`` extra. The format-1 graph becomes the recurrent core; the card's
preprocessing is written in front of it (:func:`~bci_stream.train.export.step_graph.recurrent_step_graph`).
Parity: the written step graph, one sample at a time, against the float64
:class:`~bci_stream.dsp.preprocess.Preprocessor` followed by the old graph over the whole sequence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from bci_stream.core.errors import ModelError, error_line
from bci_stream.core.onnx_meta import OnnxFormatError, external_data
from bci_stream.train.export.parity_signal import eeg_sized
from bci_stream.train.export.upgrade_checks import check_core
from bci_stream.train.export.step_graph import recurrent_graphs, write_model
from bci_stream.core.card import CARD_FILE, ONNX_FILE, ModelCard, implied_format_version, sha256_file
from bci_stream.core.registry import ModelEntry, entry_problem, read_card_json, validate_card
from bci_stream.dsp.preprocess import Preprocessor

#: The author's format-1 graph, kept beside the step graph that replaces it (the registry never reads it).
FORMAT1_FILE = "model.format1.onnx"
CARD_ONLY_FIELDS = ("sha256", "step", "inputs", "outputs", "parity", "format_version")


class AlreadyUpgraded(ModelError):
    """The folder is already a step graph (card format 2 or later): nothing to do (``upgrade-model`` exits 0)."""


def upgrade_model_dir(model_dir: Path | str, *, n_parity: int = 1000, seed: int = 0) -> ModelCard:
    """Rewrite ``model_dir`` in place as a step-graph model; returns the new card. The format-1 graph is kept as
    :data:`FORMAT1_FILE` beside it (its sha256 in the new card's ``training.format1_sha256``).

    Raises
    ------
    AlreadyUpgraded
        When the folder is already format 2 and a decoder can load it (a :class:`ModelError`; nothing is written).
    ModelError
        When the folder has no readable, valid ``model.json``, is format 2 but cannot be loaded (its files not as its
        card says: what ``bci-stream models`` reports), is not a recurrent
        network, its ``model.onnx`` is missing or its sha256 differs from the card's, or parity fails
        (nothing is written in any of these cases).
    """
    model_dir = Path(model_dir)
    card_path = model_dir / CARD_FILE
    if not card_path.is_file():
        raise ModelError(f"{model_dir} is not a model folder: it has no {CARD_FILE}")
    raw = read_card_json(card_path)
    version = implied_format_version(raw)
    if isinstance(version, int) and version >= 2:  # nothing to upgrade: is it a model a decoder can load?
        entry = ModelEntry(validate_card(raw, card_path), model_dir)  # (an invalid card: ModelError)
        if (problem := entry_problem(entry, sha256_file)) is not None:  # before: "nothing to do" (audit s66cli F10)
            raise ModelError(f"model folder {model_dir} is card format {version} (a step graph: nothing to upgrade), "
                             f"but no decoder can load it: {problem}")
        raise AlreadyUpgraded(f"model folder {model_dir} is already card format {version} (a step graph); "
                              "nothing to do")
    card = validate_card(raw, card_path)
    arch = card.architecture
    if arch.family != "recurrent":
        raise ModelError(f"model card {card_path}: architecture.family must be 'recurrent' for a card format 1 "
                         f"(a bare recurrent graph), got {arch.family!r}")
    onnx_path = model_dir / ONNX_FILE
    if not onnx_path.is_file():
        raise ModelError(f"model '{card.ref}': ONNX file {onnx_path} does not exist")
    actual = sha256_file(onnx_path)
    if actual != card.sha256:  # a foreign or corrupted graph: parity cannot tell, its reference is that graph
        raise ModelError(f"model '{card.ref}': sha256 of {onnx_path} is {actual}, but its card {card_path} says "
                         f"{card.sha256}; the file was changed or corrupted after export, nothing was upgraded")
    try:
        external_data(onnx_path)  # onnx.load reads an empty file as a model of no graph and no opset (s67eng F1)
        core = onnx.load(str(onnx_path))
    except OnnxFormatError as exc:  # the service's words for the same file
        raise ModelError(f"model '{card.ref}': {onnx_path} is not an ONNX model this service reads ({exc}); nothing "
                         "was upgraded") from None
    except Exception as exc:  # onnx raises several types for a corrupt file
        raise ModelError(f"model '{card.ref}': onnx cannot load {onnx_path}: {exc}") from None
    check_core(core, card, onnx_path)
    try:
        return _rebuild(core, card, model_dir, seed, n_parity)
    except (ValueError, RuntimeError, onnx.checker.ValidationError, ort_errors.Fail, ort_errors.InvalidArgument,
            ort_errors.InvalidGraph) as exc:  # the safety net: one line, not the rebuild's traceback
        first = error_line(exc)
        layout = ("; the rebuilt graph feeds x as [B, T, C] (batch first, channels last) and each state as [L, B, H]:"
                  " a net exported time first ([T, B, C], torch's batch_first=False) fails so"
                  if isinstance(exc, (ort_errors.Fail, ort_errors.InvalidArgument)) else "")  # (s67eng F7)
        raise ModelError(f"model '{card.ref}': {onnx_path} cannot be upgraded as its card describes it: "
                         f"{first}{layout}; nothing was upgraded") from None


def _rebuild(core: onnx.ModelProto, card: ModelCard, model_dir: Path, seed: int, n_parity: int) -> ModelCard:
    """The step graph of format-1 graph ``core``, written once its parity with the old graph holds."""
    arch = card.architecture
    proto, spec, single = recurrent_graphs(core, card.preprocessing, card.n_chans, card.sfreq, card.n_outputs,
                                       arch.cell, arch.n_layers, arch.hidden_size)
    old = ort.InferenceSession(str(model_dir / ONNX_FILE), providers=["CPUExecutionProvider"])
    state_names = card.inputs[1:]

    def reference(x: np.ndarray) -> np.ndarray:
        z = Preprocessor(card.preprocessing, card.n_chans, card.sfreq).process(x.astype(np.float64))
        feed = {"x": z[None].astype(np.float32)}
        feed.update({n: np.zeros((arch.n_layers, 1, arch.hidden_size), np.float32) for n in state_names})
        return old.run(["y"], feed)[0][0]

    x = eeg_sized(n_parity, card.n_chans, card.unit, seed)
    fields = card.model_dump(exclude=set(CARD_ONLY_FIELDS))
    fields["training"] = {**fields.get("training", {}), "upgraded_from_format": 1, "format1_onnx": FORMAT1_FILE,
                          "format1_sha256": card.sha256}
    return write_model(proto, spec, model_dir, fields, reference, parity_input=x, single=single,
                       keep={FORMAT1_FILE: model_dir / ONNX_FILE})
