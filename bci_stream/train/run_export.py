"""Exporting the net a training run chose: ONNX with a card that says what it was trained on and how good it is.

The card's ``training`` block holds the data files (and their sha256), splits, label map, the net's config, the
method in words, the command and the resolved config; its ``metrics`` the chosen net's test metrics, the chance
check, the CSP+LDA baseline and every net's trial accuracy at 2 s after cue with its added latency. Its live scoring
(``scoring``) scores trials of the trial classes only, as the metrics do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bci_stream.core.card import sha256_file
from bci_stream.train.config import RunConfig
from bci_stream.train.export.provenance import portable
from bci_stream.train.dataset import Dataset
from bci_stream.train.evaluate.metrics import nearest_time, time_key
from bci_stream.train.run_evaluation import _DEFINITIONS, _strip_curve
from bci_stream.train.run_outputs import CHANCE_WARNINGS, add_scoring, card_data_notes, card_scoring, export_dir
from bci_stream.train.stages import Stage


def export_chosen(config: RunConfig, ds: Dataset, stage: Stage, report: dict[str, Any], version: str | None = None):
    """Export ``stage``'s causal net to ONNX with a card that says what it was trained on and how good it is.

    ``version``: the card's (:func:`~bci_stream.train.run_outputs.export_version`); default ``export.version``.
    """
    from bci_stream.train.export.onnx_export import export_model

    e = config.export
    name = e.name or config.name
    out_dir = export_dir(config)
    m = report["models"][stage.name]
    test = _strip_curve(m["test"]) if m["test"] else None
    files = {s: [Path(f).name for f in config.data_files(s)] for s in ("train", "validation", "test")}
    training = {
        "data": e.data_description or f"{', '.join(files['train'])} (see splits)",
        "licence": e.licence or {},
        "splits": ds.info["splits"],
        "files": files,
        "files_sha256": {s: [sha256_file(p) for p in config.data_files(s)] for s in ("train", "validation", "test")},
        "files_content": ds.info.get("files_content"),  # the same recording in another file: evaluate warns
        "label_map": dict(config.data.label_map),
        "trial_classes": ds.trial_classes,
        "validation_tail_s": config.data.validation_tail_s,
        "crop_s": list(config.data.crop_s) if config.data.crop_s else None,
        "stage": stage.name, **card_data_notes(ds.info),
        "model_config": stage.net.config(),
        "method": _method(config, stage, m["fit"]["best_epoch"]),
        "world_size": report["world_size"],
        "seconds": m["fit"]["seconds"],
        "command": portable(report.get("command")),  # this machine's paths as names or ${BCI_STREAM_DATA}/...
        "config": _portable_config(config),
    }
    metrics: dict[str, Any] = {"test": test, "definitions": _DEFINITIONS}
    if "chance_check" in report:  # as calibrate's cards: the check, and its warning in words
        metrics["chance_check"] = {k: v for k, v in report["chance_check"].items() if k not in CHANCE_WARNINGS}
        metrics["warnings"] = [w for w in (report["chance_check"][k] for k in CHANCE_WARNINGS) if w]
    if "untested" in report:  # no test files: metrics.test is null, and the card says why in words
        metrics["warnings"] = [report["untested"]]
    if data_warnings := ds.info.get("warnings"):  # cues closer than their labels: trials are not cues
        metrics["warnings"] = [*metrics.get("warnings", []), *data_warnings]
    if "csp_lda" in report:
        metrics["csp_lda_test_accuracy"] = report["csp_lda"]["test_accuracy"]
        metrics["csp_lda_decision_time_s"] = report["csp_lda"]["decision_time_s"]
    t_la = nearest_time(config.evaluation.trial_times_s)
    if t_la is not None:  # at 2 s after cue; else (no 2 s in trial_times_s) at the time nearest 2 s, and says so
        key = time_key(t_la)
        metrics["lookahead_decision_time_s"] = t_la
        field = "lookahead_trial_accuracy_2s" if key == "2s" else "lookahead_trial_accuracy_nearest_2s"
        metrics[field] = {
            n: {"added_latency_ms": v["added_latency_ms"],
                "instant": v["test"]["trial_accuracy"].get(key, {}).get("instant") if v["test"] else None,
                "mean": v["test"]["trial_accuracy"].get(key, {}).get("mean") if v["test"] else None}
            for n, v in report["models"].items()
        }
    card = export_model(stage.net, out_dir, name=name, version=version or e.version, ch_names=ds.ch_names,
                        sfreq=ds.sfreq, output_labels=ds.label_names, preprocessing=ds.preprocessing, training=training,
                        metrics=json.loads(json.dumps(metrics)))
    # Live scoring as the card's metrics score: trials of the trial classes only (as calibrate writes it).
    return add_scoring(card, out_dir, card_scoring(dict(config.data.label_map), ds.trial_classes,
                                                   config.evaluation.trial_times_s))


def export_noted(config: RunConfig, ds: Dataset, stage: Stage, report: dict[str, Any], say: Any) -> Any:
    """:func:`export_chosen` at its version (:func:`~bci_stream.train.run_outputs.export_version`), what it replaced
    and kept said with ``say`` and put in ``report["export"]``; returns the card. ``train --export`` and ``bci-stream
    export`` (:mod:`bci_stream.train.export_run`) both export so."""
    from bci_stream.train.export.folder_swap import archive_name
    from bci_stream.train.run_outputs import export_version, exported_model

    target = export_dir(config)
    replaced = exported_model(target)  # only with --overwrite (check_outputs refuses it otherwise)
    version, version_note = export_version(config)  # never a NAME@VERSION the registry folder already holds
    kept_as = archive_name(target, config.export.name or config.name, version)
    if version_note:
        say(version_note)
    card = export_chosen(config, ds, stage, report, version)
    report["export"] = {"dir": str(target), "ref": card.ref, "sha256": card.sha256,
                        "parity_max_abs_diff": card.parity.max_abs_diff}
    if version_note:
        report["export"]["version_note"] = version_note
    if replaced:
        report["export"]["replaced"] = replaced
        say(f"--overwrite: replaced the model in {target}: {replaced}, by {card.ref}")
    if kept_as is not None:  # NAME@VERSION of the model replaced still resolves (a config file's pinned decoder)
        report["export"]["kept"] = str(target / kept_as)
        say(f"the model replaced, {card.name}@{kept_as}, is kept in {report['export']['kept']} (remove that folder "
            "once nothing asks for that version)")
    say(f"exported {card.ref} to {target} (sha256 {card.sha256[:12]}…, parity {card.parity.max_abs_diff:.2g})")
    return card


def _method(config: RunConfig, stage: Stage, best_epoch: int) -> str:
    """How the net was trained, in words (the card's ``training.method``)."""
    t = config.training
    method = (f"truncated BPTT over {t.window_s:g} s windows of {t.segment_s:g} s segments, state carried, "
              f"AdamW lr {t.lr:g} wd {t.weight_decay:g}, grad clip {t.grad_clip:g}, early stopping on validation "
              f"{t.monitor} (patience {t.patience}), best epoch {best_epoch}, seed {config.seed}")
    if stage.distilled:
        d = config.evaluation.distillation
        method += f", distilled from the bidirectional teacher (alpha {d.alpha:g}, T {d.temperature:g})"
    return method


def _portable_config(config: RunConfig) -> dict[str, Any]:
    """The run's config for its card, this machine's paths made portable (:func:`portable`), but for the reader
    options (``[data.reader]``: a BCI2000 ``loc_file`` is read again by evaluate as given)."""
    cfg = config.model_dump(mode="json", exclude={"base_dir"})
    reader = (cfg.get("data") or {}).get("reader")
    out = portable(cfg)
    if reader is not None:
        out["data"]["reader"] = reader
    return out
