"""``bci-stream train`` and ``bci-stream evaluate`` (registered in :mod:`bci_stream.cli`). Need ``train``.

Only click is imported here; torch, mne and the trainer are imported when a command runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click


@click.command("train")
@click.argument("config", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Run folder (default: output.dir of the config).")
@click.option("--export/--no-export", "export", default=None, help="Override export.enabled of the config.")
@click.option("--nproc-per-node", type=click.IntRange(min=1), default=1, show_default=True,
              help="Data-parallel processes (torchrun, gloo on CPU).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def train_cmd(config: Path, out: Path | None, export: bool | None, nproc_per_node: int, no_progress: bool) -> None:
    """Train from a TOML CONFIG: models, CSP+LDA baseline, report (JSON, markdown, plots), export."""
    argv = [str(config)] + (["--out", str(out)] if out else []) + (["--no-progress"] if no_progress else [])
    if export is not None:
        argv.append("--export" if export else "--no-export")
    if nproc_per_node > 1 and "WORLD_SIZE" not in os.environ:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc_per_node}",
               "-m", "bci_stream.train", *argv]
        sys.exit(subprocess.call(cmd))
    sys.exit(main(argv))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bci_stream.train`` (what torchrun starts in every process)."""
    import argparse

    from bci_stream.errors import BciStreamError

    p = argparse.ArgumentParser(prog="python -m bci_stream.train", description="Train from a TOML config.")
    p.add_argument("config", type=Path)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--export", dest="export", action="store_true", default=None)
    p.add_argument("--no-export", dest="export", action="store_false")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    from bci_stream.train.run import run_file

    try:
        run_file(args.config, out_dir=args.out, export=args.export, progress=not args.no_progress)
    except BciStreamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _label_map(items: tuple[str, ...]) -> dict[str, str | None] | None:
    if not items:
        return None
    out: dict[str, str | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"must be EVENT=CLASS (or EVENT= to ignore), got {item!r}",
                                     param_hint="--label-map")
        out[key] = value or None
    return out


@click.command("evaluate")
@click.argument("model")
@click.option("--data", "data", multiple=True, required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="A recording (repeat for several; trials are pooled).")
@click.option("--label-map", "label_map", multiple=True, metavar="EVENT=CLASS",
              help="Event → class (repeat); default: the model's own.")
@click.option("--trial-classes", default=None, help="Comma-separated classes scored per trial (default: the model's).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for evaluation.json / .md and plots.")
@click.option("--models-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Registry to look MODEL up in when it is a name.")
def evaluate_cmd(model: str, data: tuple[Path, ...], label_map: tuple[str, ...], trial_classes: str | None,
                 out: Path | None, models_dir: Path | None) -> None:
    """Score MODEL (checkpoint .pt, model folder, or registry name[@version]) on recordings."""
    from bci_stream.errors import BciStreamError
    from bci_stream.train.evaluate.offline import evaluate_target, write_evaluation

    if models_dir is None and not Path(model).exists():
        from bci_stream.settings import Settings

        models_dir = Settings().models_dir
    try:
        res = evaluate_target(model, list(data), label_map=_label_map(label_map), models_dir=models_dir,
                              trial_classes=trial_classes.split(",") if trial_classes else None)
    except BciStreamError as exc:
        raise click.ClickException(str(exc)) from None
    m = res["metrics"]
    click.echo(f"{res['model']} ({res['kind']}) on {len(res['files'])} file(s): {m['n_trials']} trials "
               f"{m['trials_per_class']}, sample accuracy {m['sample_accuracy']:.3f}")
    for t, row in m["trial_accuracy"].items():
        inst = "–" if row["instant"] is None else f"{row['instant']:.3f}"
        mean = "–" if row["mean"] is None else f"{row['mean']:.3f}"
        click.echo(f"  trial accuracy @{t:>5}: instant {inst}  mean {mean}  (n={row['n_trials']})")
    if out is not None:
        write_evaluation(res, out)
        click.echo(f"wrote {out / 'evaluation.md'}")
