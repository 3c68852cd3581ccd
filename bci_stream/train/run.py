"""One training run from a config: data → preprocessing → causal / bidirectional / lookahead-K / distilled
nets → CSP+LDA baseline → report → export. Every process of a distributed run calls :func:`run`.

The run folder (``output.dir``) receives ``config.toml`` (the file as given) and ``config.json``
(resolved, with defaults), ``training_files.json`` (the training files' digests and content prints),
``checkpoint.pt`` (the model chosen for export) and
``checkpoints/<stage>.pt`` (every model), ``report.json``, ``report.md`` and the plots. A run folder that
already holds files, or an export folder that holds a model, is refused before training unless
``overwrite`` (``--overwrite``) is given (:mod:`bci_stream.train.run_outputs`).

Here: the run itself (:func:`run`: data, stages trained in turn, checkpoints, report, export) and its entry points
from a config file (:func:`run_file`, :func:`preflight`). Beside it: :mod:`bci_stream.train.stages` (which nets,
which one is exported), :mod:`bci_stream.train.run_evaluation` (what the report says of each net) and
:mod:`bci_stream.train.run_export` (the exported model and its card).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bci_stream.train.checkpoint import save_checkpoint
from bci_stream.train.config import RunConfig, load_config
from bci_stream.train.dataset import Dataset, prepare_dataset
from bci_stream.train.distributed import DistContext, barrier, init_distributed, shutdown
from bci_stream.train.infer import Net, predict_probs
from bci_stream.train.loop import fit
from bci_stream.train.run_evaluation import (_DEFINITIONS, _csp, _distillation_verdict, _headline, _strip_curve,
                                             evaluate_net)
from bci_stream.train.run_export import export_chosen, export_noted
from bci_stream.train.run_outputs import (CHANCE_WARNINGS, chance_check, check_outputs, clear_previous_run,
                                          note_interrupted, train_command, write_training_files)
from bci_stream.train.stages import Stage, _chosen, build_bidirectional, build_causal, plan_stages

#: Names importable from here: the run's, and those of the modules split from it that callers import from here.
__all__ = ["Stage", "build_bidirectional", "build_causal", "evaluate_net", "export_chosen", "load_run_config",
           "plan_stages", "preflight", "run", "run_file", "train_command"]


def _meta(config: RunConfig, ds: Dataset, stage: Stage) -> dict[str, Any]:
    """What a stage's checkpoint says of its data and run (channels, rate, labels, preprocessing, stage)."""
    return {"ch_names": ds.ch_names, "sfreq": ds.sfreq, "label_names": ds.label_names,
            "trial_classes": ds.trial_classes, "label_map": dict(config.data.label_map),
            "preprocessing": ds.preprocessing.model_dump(), "stage": stage.name, "run": config.name,
            "channels": config.data.channels, "label_window": config.data.label_window, "reader": config.data.reader}


def _with_soft_targets(teacher: Net, seqs: list) -> list:
    return [dataclasses.replace(s, soft=predict_probs(teacher, s.x).astype(np.float32)) for s in seqs]


def _threads(config: RunConfig, ctx: DistContext) -> int:
    """``training.threads``; else, in a run of one process, ``OMP_NUM_THREADS`` when set (the usual limit on a shared
    machine, which torch itself honours: before, overridden by every core; audit s61train F7); else the cores shared
    among the processes (torchrun sets ``OMP_NUM_THREADS=1`` in each of its own)."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if not config.training.threads and ctx.world_size == 1 and env.isdigit() and int(env) > 0:
        return int(env)
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
    written: list[str] = []  # "config" once the run's folder holds this run's files
    try:
        return _run(config, ctx, config_text, do_export, progress, log, t_start, command, overwrite, written)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM as bci-stream train takes it
        if ctx.is_main and written and not (config.out_dir / "report.json").is_file():  # a report: it had ended
            note_interrupted(config.out_dir, log)
        raise
    finally:
        shutdown(ctx)


def _run(config: RunConfig, ctx: DistContext, config_text: str | None, do_export: bool, progress: bool,
         log, t_start: float, command: str | None, overwrite: bool = False,
         written: list[str] | None = None) -> dict[str, Any] | None:
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
        write_training_files(out, config, ds.info.get("files_content"))  # evaluate CHECKPOINT: copies of them
        if config_text is not None:
            (out / "config.toml").write_text(config_text, encoding="utf-8")
    if written is not None:
        written.append("config")
    say(f"data: {len(ds.train)} train / {len(ds.validation)} validation / {len(ds.test)} test sequences, "
        f"{ds.n_chans} ch @ {ds.sfreq:g} Hz, classes {ds.label_names} (trials: {ds.trial_classes}) [{t_data:.1f} s]")
    notes = list(ds.info.get("notes", []))  # the data's (e.g. channels left out), then the run's
    if config.evaluation.distillation.enabled and not config.evaluation.bidirectional:
        given = "distillation" in config.evaluation.model_fields_set  # else its default: said so
        notes.append(f"evaluation.distillation.enabled = true{'' if given else ' (its default)'} but "
                     "evaluation.bidirectional = false: no teacher, so no distilled student is trained")
    for note in notes:
        say(f"note: {note}")
    for warning in ds.info.get("warnings", []):  # cues closer than their labels (train.label_spacing)
        say(f"warning: {warning}")
    notes += ds.info.get("warnings", [])
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
        for warning in filter(None, (check[k] for k in CHANCE_WARNINGS)):
            report.setdefault("notes", []).append(warning)
            say(f"warning: {warning}")
    if not ds.test:
        report["untested"] = untested = (
            f"no test files (data.test is empty): the {chosen.name} net's accuracy on data it was neither trained "
            "nor validated on is not measured; score it on held-out runs with `bci-stream evaluate` before relying "
            "on it")
        report.setdefault("notes", []).append(untested)
        say(f"warning: {untested}")
    save_checkpoint(out / "checkpoint.pt", chosen.net, _meta(config, ds, chosen))
    report["checkpoint"] = {"path": "checkpoint.pt", "stage": chosen.name}
    report["seconds"] = {"data": round(t_data, 2), **{n: m["fit"]["seconds"] for n, m in report["models"].items()}}
    from bci_stream.train.evaluate.report import write_report

    if do_export:
        try:
            export_noted(config, ds, chosen, report, say)
        except Exception:  # a refused export (e.g. parity) keeps the run's results
            report["seconds"]["total"] = round(time.monotonic() - t_start, 2)
            write_report(report, out)
            raise
    report["seconds"]["total"] = round(time.monotonic() - t_start, 2)
    write_report(report, out)
    say(f"report: {out / 'report.md'}  (wall time {report['seconds']['total']:.1f} s)")
    return report


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
