"""``bci-stream export RUN_DIR``: export the net a finished training run chose, later (a run trained with
``--no-export``), as ``train --export`` would have exported it then: the run's own checkpoint (``checkpoint.pt``),
the run's config and report for its card, into its ``export.dir`` (audit s61train F10: before, the only way was to
train the whole config again).

The run's training files are read again for the card (its data description, splits, content prints): each must
still be the file the run trained on (``training_files.json``'s digests), else the export is refused. Only click is
imported at import time; torch and the trainer when the command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from bci_stream.cli_checks import PathArg
from bci_stream.core.errors import BciStreamError, rule_text


class RunExportError(BciStreamError):
    """A run folder that cannot be exported: what is missing or changed, and what to do."""


def export_run(run_dir: Path | str, *, overwrite: bool = False, log: Any = print) -> Any:
    """Export the chosen net of the run in ``run_dir``; returns the report's ``export`` entry (``ref``, ``dir``...).

    Raises
    ------
    RunExportError
        ``run_dir`` is not a finished run (no ``config.json``, ``report.json`` or ``checkpoint.pt``), its
        training files changed since, or its export folder holds a model (without ``overwrite``).
    """
    from dataclasses import replace

    from bci_stream.core.card import sha256_file
    from bci_stream.core.out_folder import out_folder_problem
    from bci_stream.train.checkpoint import load_checkpoint
    from bci_stream.train.dataset import prepare_dataset
    from bci_stream.train.evaluate.report import write_report
    from bci_stream.train.run_export import export_noted
    from bci_stream.train.run_outputs import TRAINING_FILES, export_dir, exported_model
    from bci_stream.train.stages import plan_stages

    run_dir = Path(run_dir).resolve()
    if not run_dir.is_dir():  # (before: "it lacks config.json, ..." of a folder that is not there: audit s66cli F13)
        raise RunExportError(f"RUN_DIR {run_dir} does not exist (the run folder of a finished `bci-stream train` run)")
    missing = [n for n in ("config.json", "report.json", "checkpoint.pt") if not (run_dir / n).is_file()]
    if missing:
        raise RunExportError(f"RUN_DIR {run_dir} must be the run folder of a finished `bci-stream train` run; it lacks "
                             f"{', '.join(missing)}")
    if not (run_dir / TRAINING_FILES).is_file():
        raise RunExportError(f"run {run_dir} was trained by an older bci-stream, which kept no digests of its training "
                             f"files ({TRAINING_FILES}): its card could not say they are the files it trained on; "
                             "train it again with --export")
    config = _run_config(run_dir)
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    target = export_dir(config)
    if config.model.attention_window:
        raise RunExportError(f"run {run_dir}: model.attention_window = {config.model.attention_window} makes its net "
                             "offline-only (its state is more than h0/c0), so it cannot be exported")
    if (why := out_folder_problem(target, "export folder (export.dir)")) is not None:
        raise RunExportError(why)
    if not overwrite and (target / "model.json").exists():
        raise RunExportError(f"export folder {target} (export.dir of the run's config) already holds a model "
                             f"({exported_model(target)}); pass --overwrite to replace it")
    digests = json.loads((run_dir / TRAINING_FILES).read_text(encoding="utf-8"))["files_sha256"]
    for split, paths in ((s, config.data_files(s)) for s in ("train", "validation", "test")):
        for path, digest in zip(paths, digests.get(split, [])):
            if not path.is_file() or sha256_file(path) != digest:
                raise RunExportError(f"training file {path} ({split}) is not the file the run in {run_dir} trained "
                                     "on (missing, or other bytes now): its card would describe other data; train "
                                     "again")
    stage_name = (report.get("checkpoint") or {}).get("stage")
    net, _ = load_checkpoint(run_dir / "checkpoint.pt", hint="the run's checkpoint; train again to have it again")
    log(f"reading the run's data again for its card ({len(config.data_files('train'))} training file(s))")
    ds = prepare_dataset(config)
    stages = {s.name: s for s in plan_stages(config, ds.n_chans, len(ds.label_names))}
    if stage_name not in stages or not stages[stage_name].causal:
        raise RunExportError(f"run {run_dir}: its checkpoint holds stage {stage_name!r}, not a causal net of its "
                             f"config ({', '.join(n for n, s in stages.items() if s.causal)}): only those are "
                             "exported")
    export_noted(config, ds, replace(stages[stage_name], net=net), report, log)
    report["export"]["by"] = "bci-stream export"  # later than the run
    write_report(report, run_dir)
    return report["export"]


def _run_config(run_dir: Path) -> Any:
    """The run's config as ``train`` used it: ``config.json`` (its values as train resolved them: ``--out``, the data
    paths with ``${BCI_STREAM_DATA}`` as it was then), each section's keys at their defaults left out, so that its
    checks see the keys the file set (read back whole, ``model.hidden_sizes`` or ``preset`` beside the dumped
    ``hidden_size`` was refused as a key it would ignore: review s62 F1; re-reading ``config.toml`` instead expanded
    ``${BCI_STREAM_DATA}`` as it is now: review s62b F2, F3)."""
    from pydantic import BaseModel, ValidationError

    from bci_stream.train.config import RunConfig

    dumped = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    given: dict[str, Any] = {}
    for key, value in dumped.items():
        kind = RunConfig.model_fields[key].annotation if key in RunConfig.model_fields else None
        try:
            default = kind().model_dump(mode="json") if isinstance(kind, type) and issubclass(kind, BaseModel) else None
        except ValidationError:  # a section with required keys (data): as it is
            default = None
        given[key] = ({k: v for k, v in value.items() if default.get(k, object()) != v}
                      if isinstance(value, dict) and default is not None else value)
    try:
        return RunConfig.model_validate_json(json.dumps(given))
    except (ValidationError, TypeError, ValueError) as exc:
        why = "; ".join(rule_text(e["msg"]) for e in exc.errors()) if isinstance(exc, ValidationError) else str(exc)
        raise RunExportError(f"run {run_dir}: its config.json cannot be read again ({why}): train it again with "
                             "--export") from None


@click.command("export")
@click.argument("run_dir", type=PathArg(path_type=Path, file_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace a model already in the run's export folder.")
def export_cmd(run_dir: Path, overwrite: bool) -> None:
    """Export the net a training run chose (RUN_DIR: its run folder, e.g. one trained with --no-export) to its
    config's export.dir, as `train --export` would have."""
    from bci_stream.train.cli import InputError

    try:
        export_run(run_dir, overwrite=overwrite, log=click.echo)
    except BciStreamError as exc:
        raise InputError(str(exc)) from None


__all__ = ["RunExportError", "export_cmd", "export_run"]
