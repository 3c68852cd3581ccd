"""One training run from a config: data → preprocessing → causal / bidirectional / lookahead-K / distilled
nets → CSP+LDA baseline → report → export. Every process of a distributed run calls :func:`run`.

The run folder (``output.dir``) receives ``config.toml`` (the file as given) and ``config.json``
(resolved, with defaults), ``checkpoint.pt`` (the model chosen for export) and
``checkpoints/<stage>.pt`` (every model), ``report.json``, ``report.md`` and the plots. A run folder that
already holds files, or an export folder that holds a model, is refused before training unless
``overwrite`` (``--overwrite``) is given (:mod:`bci_stream.train.run_outputs`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bci_stream.core.card import sha256_file
from bci_stream.train.evaluate.metrics import evaluate_probs, nearest_time, time_key
from bci_stream.train.nets.birnn import BiRNN
from bci_stream.train.nets.presets import preset_args
from bci_stream.train.nets.rnn import CausalRNN
from bci_stream.train.checkpoint import save_checkpoint
from bci_stream.train.config import ConfigError, RunConfig, load_config
from bci_stream.train.dataset import Dataset, prepare_dataset
from bci_stream.train.distributed import DistContext, barrier, init_distributed, shutdown
from bci_stream.train.infer import Net, predict_probs
from bci_stream.train.loop import fit
from bci_stream.train.run_outputs import (add_scoring, card_data_notes, card_scoring, chance_check, check_outputs,
                                          clear_previous_run, export_dir, exported_model, train_command)

def build_causal(config: RunConfig, n_chans: int, n_outputs: int) -> CausalRNN:
    m = config.model
    if m.preset:
        args = preset_args(m.preset)
    elif m.hidden_sizes:
        args = {"cell": m.cell, "hidden_sizes": m.hidden_sizes}
    else:
        args = {"cell": m.cell, "hidden_size": m.hidden_size, "n_layers": m.n_layers}
    return CausalRNN(n_chans, n_outputs, dropout=m.dropout, input_dropout=m.input_dropout,
                     attention_window=m.attention_window, power_filters=m.power_filters, **args)


def build_bidirectional(config: RunConfig, n_chans: int, n_outputs: int, lookahead: int | None) -> BiRNN:
    """The same cell, per-layer widths and front-end as the causal net, in both directions."""
    ref = build_causal(config, n_chans, n_outputs)
    return BiRNN(n_chans, n_outputs, hidden_sizes=ref.hidden_sizes, cell=ref.cell, lookahead=lookahead,
                 dropout=config.model.dropout, input_dropout=config.model.input_dropout,
                 power_filters=config.model.power_filters)


@dataclasses.dataclass
class Stage:
    name: str
    net: Net
    lookahead: int | None  # None: unbounded future (for a BiRNN); 0 for a causal net
    causal: bool
    teacher: bool = False
    distilled: bool = False


def plan_stages(config: RunConfig, n_chans: int, n_outputs: int) -> list[Stage]:
    ev = config.evaluation
    stages = [Stage("causal", build_causal(config, n_chans, n_outputs), 0, True)]
    if ev.bidirectional:
        stages.append(Stage("bidirectional", build_bidirectional(config, n_chans, n_outputs, None), None, False,
                            teacher=True))
    for k in ev.lookaheads:
        stages.append(Stage(f"lookahead_{k}", build_bidirectional(config, n_chans, n_outputs, k), k, False))
    if ev.distillation.enabled and ev.bidirectional:
        stages.append(Stage("distilled", build_causal(config, n_chans, n_outputs), 0, True, distilled=True))
    return stages


def _meta(config: RunConfig, ds: Dataset, stage: Stage) -> dict[str, Any]:
    return {"ch_names": ds.ch_names, "sfreq": ds.sfreq, "label_names": ds.label_names,
            "trial_classes": ds.trial_classes, "label_map": dict(config.data.label_map),
            "preprocessing": ds.preprocessing.model_dump(), "stage": stage.name, "run": config.name,
            "channels": config.data.channels, "label_window": config.data.label_window, "reader": config.data.reader}


def evaluate_net(net: Net, seqs: list, ds: Dataset, config: RunConfig) -> dict[str, Any]:
    ev = config.evaluation
    probs = [predict_probs(net, s.x) for s in seqs]
    return evaluate_probs(probs, [s.labels for s in seqs], ds.label_names, ds.trial_classes, ds.sfreq,
                          ev.trial_times_s, ev.curve_step_s, ev.curve_max_s, lead=ds.lead)


def _with_soft_targets(teacher: Net, seqs: list) -> list:
    return [dataclasses.replace(s, soft=predict_probs(teacher, s.x).astype(np.float32)) for s in seqs]


def _threads(config: RunConfig, ctx: DistContext) -> int:
    return config.training.threads or max(1, (os.cpu_count() or 1) // ctx.world_size)


def run(config: RunConfig, *, config_text: str | None = None, export: bool | None = None, progress: bool = True,
        log=print, command: str | None = None, overwrite: bool = False) -> dict[str, Any] | None:
    """Run everything; rank 0 returns the report (other ranks return None).

    ``export`` overrides ``export.enabled``; ``overwrite`` lets the run replace a previous run in its run folder
    and an exported model in its export folder (else both are refused before training, see
    :func:`~bci_stream.train.run_outputs.check_outputs`).
    """
    t_start = time.monotonic()
    do_export = config.export.enabled if export is None else export
    check_outputs(config, do_export, overwrite)  # every process, before any writes (init_distributed syncs them)
    ctx = init_distributed()
    try:
        return _run(config, ctx, config_text, do_export, progress, log, t_start, command, overwrite)
    finally:
        shutdown(ctx)


def _run(config: RunConfig, ctx: DistContext, config_text: str | None, do_export: bool, progress: bool,
         log, t_start: float, command: str | None, overwrite: bool = False) -> dict[str, Any] | None:
    torch.set_num_threads(_threads(config, ctx))
    torch.manual_seed(config.seed)
    out = config.out_dir
    main = ctx.is_main
    say = log if main else (lambda *_a, **_k: None)
    t0 = time.monotonic()
    ds = prepare_dataset(config)  # data refusals come before anything is written
    t_data = time.monotonic() - t0
    if main:
        if overwrite and (gone := clear_previous_run(out)):
            say(f"--overwrite: deleted the previous run's {len(gone)} file(s) in {out}")
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(config.model_dump_json(indent=2) + "\n", encoding="utf-8")
        if config_text is not None:
            (out / "config.toml").write_text(config_text, encoding="utf-8")
    say(f"data: {len(ds.train)} train / {len(ds.validation)} validation / {len(ds.test)} test sequences, "
        f"{ds.n_chans} ch @ {ds.sfreq:g} Hz, classes {ds.label_names} (trials: {ds.trial_classes}) [{t_data:.1f} s]")
    notes = list(ds.info.get("notes", []))  # the data's (e.g. channels left out), then the run's
    if config.evaluation.distillation.enabled and not config.evaluation.bidirectional:
        notes.append("evaluation.distillation.enabled = true but evaluation.bidirectional = false: no teacher, so no "
                     "distilled student is trained")
    for note in notes:
        say(f"note: {note}")
    report: dict[str, Any] = {
        "run": config.name, "command": command, "seed": config.seed, "world_size": ctx.world_size,
        "threads_per_process": _threads(config, ctx), "torch": torch.__version__,
        "python": platform.python_version(), "data": ds.info,
        "preprocessing": ds.preprocessing.model_dump(), "definitions": _DEFINITIONS, "models": {}, "notes": notes,
    }
    stages = plan_stages(config, ds.n_chans, len(ds.label_names))
    if config.model.power_filters and config.model.spatial_init == "csp":
        from bci_stream.train.evaluate.baseline import csp_filters

        filters = csp_filters([(s.x.T, s.labels, s.bad) for s in ds.train], ds.sfreq, ds.trial_class_ids,
                              config.model.power_filters, window_s=config.evaluation.csp_window_s, lead=ds.lead)
        for stage in stages:
            with torch.no_grad():
                stage.net.spatial.weight.copy_(torch.from_numpy(filters))
        report["spatial_init"] = {"kind": "csp", "fitted_on": "training sequences (preprocessed), trial classes, "
                                                             f"{config.evaluation.csp_window_s} s after cue"}
    train_seqs, teacher = ds.train, None
    for stage in stages:
        seqs = train_seqs
        if stage.distilled:
            if teacher is None:
                continue
            seqs = _with_soft_targets(teacher, ds.train)
        res = fit(stage.net, seqs, ds.validation, config.training, ds.sfreq, ctx, seed=config.seed,
                  desc=stage.name, distill=config.evaluation.distillation if stage.distilled else None,
                  progress=progress)
        if stage.teacher:
            teacher = stage.net
        if not main:
            continue
        save_checkpoint(out / "checkpoints" / f"{stage.name}.pt", stage.net, _meta(config, ds, stage))
        entry = {
            "kind": type(stage.net).__name__, "causal": stage.causal, "lookahead": stage.lookahead,
            "added_latency_ms": (None if stage.lookahead is None else 1000.0 * stage.lookahead / ds.sfreq),
            "n_params": sum(p.numel() for p in stage.net.parameters()), "config": stage.net.config(),
            "fit": res.as_dict(),
            "validation": _strip_curve(evaluate_net(stage.net, ds.validation, ds, config)),
            "test": evaluate_net(stage.net, ds.test, ds, config) if ds.test else None,
        }
        report["models"][stage.name] = entry
        say(f"{stage.name}: best epoch {res.best_epoch}/{len(res.history)}, {res.seconds:.1f} s; "
            + _headline(entry["test"]))
    barrier(ctx)
    if not main:
        return None
    if config.evaluation.csp_lda and ds.test:
        report["csp_lda"] = csp = _csp(config, ds)
        acc = "–" if csp["test_accuracy"] is None else f"{csp['test_accuracy']:.3f}"
        say(f"csp_lda: test accuracy {acc} ({csp['n_test_trials']} trials, decision at {csp['decision_time_s']:g} s)")
    report["distillation"] = _distillation_verdict(report["models"])
    chosen = _chosen(config, stages)
    if check := chance_check(report["models"][chosen.name]["test"], chosen.name, config.evaluation.trial_times_s):
        report["chance_check"] = check  # of the net the checkpoint (and export) holds
        if check["warning"]:
            report.setdefault("notes", []).append(check["warning"])
            say(f"warning: {check['warning']}")
    save_checkpoint(out / "checkpoint.pt", chosen.net, _meta(config, ds, chosen))
    report["checkpoint"] = {"path": "checkpoint.pt", "stage": chosen.name}
    report["seconds"] = {"data": round(t_data, 2), **{n: m["fit"]["seconds"] for n, m in report["models"].items()}}
    from bci_stream.train.evaluate.report import write_report

    if do_export:
        replaced = exported_model(export_dir(config))  # only with --overwrite (check_outputs refuses it otherwise)
        try:
            card = export_chosen(config, ds, chosen, report)
        except Exception:  # a refused export (e.g. parity) keeps the run's results
            report["seconds"]["total"] = round(time.monotonic() - t_start, 2)
            write_report(report, out)
            raise
        report["export"] = {"dir": str(export_dir(config)),
                            "ref": card.ref, "sha256": card.sha256, "parity_max_abs_diff": card.parity.max_abs_diff}
        if replaced:
            report["export"]["replaced"] = replaced
            say(f"--overwrite: replaced the model in {report['export']['dir']}: {replaced}")
        say(f"exported {card.ref} to {report['export']['dir']} (sha256 {card.sha256[:12]}…, parity "
            f"{card.parity.max_abs_diff:.2g})")
    report["seconds"]["total"] = round(time.monotonic() - t_start, 2)
    write_report(report, out)
    say(f"report: {out / 'report.md'}  (wall time {report['seconds']['total']:.1f} s)")
    return report


_DEFINITIONS = {
    "trial_accuracy.instant": "argmax over the trial classes of the output at cue + t (with data.label_window too)",
    "trial_accuracy.mean": "argmax over the trial classes of the mean output over [cue, cue + t]",
    "sample_accuracy": "argmax over all classes == label, over every labelled sample",
    "trial_class_sample_accuracy": "argmax over the trial classes == label, over samples inside trials",
    "added_latency_ms": "lookahead K / sfreq: how long a deployed decoder would wait for x[t+K] before answering "
                        "for t (None = whole recording, offline only)",
    "csp_lda": "trial-based: band-pass (zero-phase FIR), epoch [t0, t1) after cue, CSP log-variance + LDA; trained "
               "on every trial of the training and validation data, decision at t1",
    "chance_trial_accuracy": "share of the most frequent trial class among the trials (always answering it "
                             "scores this)",
    "p_vs_chance": "<mode>_p_vs_chance: one-sided binomial test of the correct trials against uniform_chance = "
                   "1/k for k trial classes (the probability of at least as many correct by uniform guessing)",
    "lookahead_trial_accuracy": "trial accuracy of each net at lookahead_decision_time_s: 2 s after cue, or the "
                                "time of evaluation.trial_times_s nearest 2 s when 2 s is not one of them",
}


def _strip_curve(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "curve"}


def _headline(test: dict[str, Any] | None) -> str:
    if not test:
        return "no test data"
    ta = test["trial_accuracy"]
    parts = [f"{t} {r['instant']:.2f}/{r['mean']:.2f}" for t, r in ta.items() if r.get("instant") is not None]
    return f"test sample acc {test['sample_accuracy']:.3f}; trial acc instant/mean " + ", ".join(parts)


def _csp(config: RunConfig, ds: Dataset) -> dict[str, Any]:
    from bci_stream.train.evaluate.baseline import csp_lda

    ev = config.evaluation
    return csp_lda([(s.raw, s.labels) for s in ds.train + ds.validation], [(s.raw, s.labels) for s in ds.test],
                   ds.sfreq, ds.trial_class_ids, band=ev.csp_band, window_s=ev.csp_window_s,
                   n_components=ev.csp_components, seed=config.seed, lead=ds.lead)


def _distillation_verdict(models: dict[str, Any]) -> dict[str, Any] | None:
    """Student vs the plain causal net, on validation (the honest choice) and on test (for the record)."""
    if "distilled" not in models or "causal" not in models:
        return None
    c, d = models["causal"], models["distilled"]

    def key(m: dict[str, Any], split: str, t: str, mode: str) -> float | None:
        block = m[split]
        return block["trial_accuracy"].get(t, {}).get(mode) if block else None

    out: dict[str, Any] = {"validation_loss": {"causal": c["fit"]["best_validation"].get("loss"),
                                               "distilled": d["fit"]["best_validation"].get("loss")}}
    for split in ("validation", "test"):
        if not c[split] or not d[split]:
            continue
        rows = {}
        for t in c[split]["trial_accuracy"]:
            for mode in ("instant", "mean"):
                a, b = key(c, split, t, mode), key(d, split, t, mode)
                if a is not None and b is not None:
                    rows[f"{t}.{mode}"] = round(b - a, 4)
        rows["sample_accuracy"] = round(d[split]["sample_accuracy"] - c[split]["sample_accuracy"], 4)
        out[f"{split}_delta"] = rows
    vd = out.get("validation_delta", {})
    td = out.get("test_delta", {})
    helps_val = (out["validation_loss"]["distilled"] or 0) < (out["validation_loss"]["causal"] or 0)
    out["helps_on_validation_loss"] = bool(helps_val)
    out["test_delta_trial_2s_mean"] = td.get("2s.mean")
    out["summary"] = (
        f"distilled vs causal: validation loss {out['validation_loss']['distilled']:.4f} vs "
        f"{out['validation_loss']['causal']:.4f}; test Δ trial acc @2 s (mean) {td.get('2s.mean')}, "
        f"(instant) {td.get('2s.instant')}; Δ sample acc {td.get('sample_accuracy')}; "
        f"validation Δ @2 s (mean) {vd.get('2s.mean')}"
    )
    return out


def _chosen(config: RunConfig, stages: list[Stage]) -> Stage:
    want = "distilled" if config.export.model == "student" else "causal"
    for s in stages:
        if s.name == want:
            return s
    raise ConfigError(f"export.model = {config.export.model!r} needs the {want!r} stage, which this run does not "
                      f"train (stages: {[s.name for s in stages]})")


def export_chosen(config: RunConfig, ds: Dataset, stage: Stage, report: dict[str, Any]):
    """Export ``stage``'s causal net to ONNX with a card that says what it was trained on and how good it is."""
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
        "label_map": dict(config.data.label_map),
        "trial_classes": ds.trial_classes,
        "validation_tail_s": config.data.validation_tail_s,
        "crop_s": list(config.data.crop_s) if config.data.crop_s else None,
        "stage": stage.name, **card_data_notes(ds.info),
        "model_config": stage.net.config(),
        "method": (f"truncated BPTT over {config.training.window_s:g} s windows of {config.training.segment_s:g} s "
                   f"segments, state carried, AdamW lr {config.training.lr:g} wd {config.training.weight_decay:g}, "
                   f"grad clip {config.training.grad_clip:g}, early stopping on validation {config.training.monitor} "
                   f"(patience {config.training.patience}), best epoch {m['fit']['best_epoch']}, seed {config.seed}"
                   + (f", distilled from the bidirectional teacher (alpha {config.evaluation.distillation.alpha:g}, "
                      f"T {config.evaluation.distillation.temperature:g})" if stage.distilled else "")),
        "world_size": report["world_size"],
        "seconds": m["fit"]["seconds"],
        "command": report.get("command"),
        "config": config.model_dump(mode="json", exclude={"base_dir"}),
    }
    metrics: dict[str, Any] = {"test": test, "definitions": _DEFINITIONS}
    if "chance_check" in report:  # as calibrate's cards: the check, and its warning in words
        metrics["chance_check"] = {k: v for k, v in report["chance_check"].items() if k != "warning"}
        metrics["warnings"] = [w for w in (report["chance_check"]["warning"],) if w]
    if "csp_lda" in report:
        metrics["csp_lda_test_accuracy"] = report["csp_lda"]["test_accuracy"]
        metrics["csp_lda_decision_time_s"] = report["csp_lda"]["decision_time_s"]
    t_la = nearest_time(config.evaluation.trial_times_s)
    if t_la is not None:  # at 2 s after cue; else (no 2 s in trial_times_s) at the time nearest 2 s, and says so
        key = time_key(t_la)
        metrics["lookahead_decision_time_s"] = t_la
        metrics["lookahead_trial_accuracy_2s" if key == "2s" else "lookahead_trial_accuracy_nearest_2s"] = {
            n: {"added_latency_ms": v["added_latency_ms"],
                "instant": v["test"]["trial_accuracy"].get(key, {}).get("instant") if v["test"] else None,
                "mean": v["test"]["trial_accuracy"].get(key, {}).get("mean") if v["test"] else None}
            for n, v in report["models"].items()
        }
    card = export_model(stage.net, out_dir, name=name, version=e.version, ch_names=ds.ch_names, sfreq=ds.sfreq,
                        output_labels=ds.label_names, preprocessing=ds.preprocessing, training=training,
                        metrics=json.loads(json.dumps(metrics)))
    # Live scoring as the card's metrics score: trials of the trial classes only (as calibrate writes it).
    return add_scoring(card, out_dir, card_scoring(dict(config.data.label_map), ds.trial_classes,
                                                   config.evaluation.trial_times_s))


def run_file(path: Path | str, *, out_dir: Path | str | None = None, export: bool | None = None,
             progress: bool = True, log=print, overwrite: bool = False) -> dict[str, Any] | None:
    """Load the TOML at ``path`` (optionally overriding ``output.dir``) and :func:`run` it."""
    path = Path(path)
    config = load_run_config(path, out_dir)
    command = train_command(path, out_dir, export, overwrite)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        command = command.replace("bci-stream train", f"bci-stream train --nproc-per-node {os.environ['WORLD_SIZE']}")
    return run(config, config_text=path.read_text(encoding="utf-8"), export=export, progress=progress, log=log,
               command=command, overwrite=overwrite)


def load_run_config(path: Path | str, out_dir: Path | str | None = None) -> RunConfig:
    """The config at ``path``, its ``output.dir`` replaced by ``out_dir`` when given (ConfigError when refused)."""
    config = load_config(Path(path))
    if out_dir is not None:
        output = config.output.model_copy(update={"dir": str(Path(out_dir).resolve())})
        config = config.model_copy(update={"output": output})
    return config


def preflight(path: Path | str, out_dir: Path | str | None, export: bool | None, overwrite: bool) -> None:
    """The checks of the config, its output folders and its data (:func:`~bci_stream.train.dataset.check_data`),
    before data-parallel processes start (one error line instead of one per process and torchrun's report)."""
    from bci_stream.train.dataset import check_data

    config = load_run_config(path, out_dir)
    check_outputs(config, config.export.enabled if export is None else export, overwrite)
    check_data(config)
