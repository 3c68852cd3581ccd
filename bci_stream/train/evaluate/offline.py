"""``bci-stream evaluate``: score a checkpoint or an exported model on recordings.

An exported model (a folder with ``model.json``, or a registry name) runs through the service's own
offline path (:func:`bci_stream.engine.offline.decode_offline`: the card's preprocessing, then
onnxruntime), so what is scored is what would be deployed. A checkpoint (``.pt``) runs in torch.
Channels come from the card/checkpoint (picked and reordered by name from each file); the label map
and trial classes too, unless given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.core.errors import ModelError


def _load_target(target: str, models_dir: Path | None) -> dict[str, Any]:
    path = Path(target)
    if path.suffix == ".pt" or (path.is_file() and path.name != "model.json"):
        from bci_stream.train.checkpoint import load_checkpoint

        net, meta = load_checkpoint(path)
        return {"kind": "checkpoint", "name": path.stem, "net": net, "ch_names": meta["ch_names"],
                "sfreq": meta["sfreq"], "label_names": meta["label_names"], "preprocessing": meta["preprocessing"],
                "label_map": meta.get("label_map"), "trial_classes": meta.get("trial_classes")}
    from bci_stream.core.registry import ModelEntry, ModelRegistry, read_card, verify_files

    if path.is_dir() or path.name == "model.json":
        card_path = path if path.name == "model.json" else path / "model.json"
        entry = ModelEntry(read_card(card_path), card_path.parent)
        verify_files(entry)
    elif models_dir is not None:
        entry = ModelRegistry(models_dir).get(target)
    else:
        raise ModelError(f"model {target!r} is neither a checkpoint (.pt), a model folder nor a registry name "
                         f"(give --models-dir to look it up)")
    card = entry.card
    return {"kind": "onnx", "name": card.ref, "entry": entry, "ch_names": card.ch_names, "sfreq": card.sfreq,
            "label_names": card.output.labels, "preprocessing": card.preprocessing,
            "label_map": card.training.get("label_map"), "trial_classes": card.training.get("trial_classes")}


def evaluate_target(target: str, data: Sequence[str | Path], *, label_map: dict[str, str | None] | None = None,
                    trial_classes: list[str] | None = None, models_dir: Path | None = None,
                    times_s: Sequence[float] = (0.5, 1.0, 2.0, 2.5, 3.0)) -> dict[str, Any]:
    """Metrics (:func:`bci_stream.train.evaluate.metrics.evaluate_probs`) of ``target`` over the files ``data``."""
    from bci_stream.io import load_recordings
    from bci_stream.io.labels import absent_events
    from bci_stream.train.evaluate.metrics import evaluate_probs

    t = _load_target(target, models_dir)
    label_map = label_map or t["label_map"]
    if not label_map:
        raise ModelError(f"{target}: no label map in its card/checkpoint; give --label-map EVENT=CLASS")
    recs = load_recordings(list(data), label_map=label_map, ch_names=t["ch_names"])
    absent = absent_events(label_map, [e for r in recs for e in r.events])
    if absent:
        raise ModelError(f"label_map names event(s) {absent} that occur in none of the files "
                         f"(their events: {sorted({e.description for r in recs for e in r.events})})")
    for rec in recs:
        if rec.sfreq != t["sfreq"]:
            raise ModelError(f"{rec.source} has sfreq {rec.sfreq:g} Hz, the model needs {t['sfreq']:g} Hz")
    names = recs[0].label_names
    if names != t["label_names"]:
        raise ModelError(f"the label map gives classes {names}, the model outputs {t['label_names']}")
    classes = trial_classes or t["trial_classes"] or names
    probs = []
    for rec in recs:
        x = np.ascontiguousarray(rec.data.T, dtype=np.float32)
        if t["kind"] == "onnx":
            from bci_stream.engine.offline import decode_offline

            probs.append(decode_offline(t["entry"], x))
        else:
            from bci_stream.dsp.preprocess import Preprocessor
            from bci_stream.train.infer import predict_probs

            z = Preprocessor(t["preprocessing"], len(t["ch_names"]), t["sfreq"]).process(x)
            probs.append(predict_probs(t["net"], z))
    metrics = evaluate_probs(probs, [r.labels for r in recs], names, list(classes), t["sfreq"], times_s)
    return {"target": str(target), "model": t["name"], "kind": t["kind"], "files": [str(r.source) for r in recs],
            "label_map": dict(label_map), "trial_classes": list(classes), "metrics": metrics}


def write_evaluation(result: dict[str, Any], out_dir: Path) -> None:
    """``evaluation.json``, ``evaluation.md`` and ``accuracy_vs_time.png`` in ``out_dir``."""
    from bci_stream.train.evaluate.report import write_report

    m = result["metrics"]
    report = {"run": f"evaluation of {result['model']}", "evaluation": result,
              "models": {result["model"]: {"causal": True, "lookahead": 0, "added_latency_ms": 0.0, "test": m}}}
    write_report(report, out_dir, stem="evaluation")
