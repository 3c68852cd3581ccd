"""``bci-stream train`` and ``bci-stream evaluate`` (registered in :mod:`bci_stream.cli`). Need ``train``.

Only click is imported here; torch, mne and the trainer are imported when a command runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from bci_stream.cli_checks import PathArg, comma_items, finite, name_list
from bci_stream.io.reader_cli import bci2000_options, bci2000_reader


@click.command("train")
@click.argument("config", type=PathArg(path_type=Path, dir_okay=False))
@click.option("--out", type=PathArg(path_type=Path, file_okay=False), default=None,
              help="Run folder (default: output.dir of the config).")
@click.option("--export/--no-export", "export", default=None, help="Override export.enabled of the config.")
@click.option("--nproc-per-node", type=click.IntRange(min=1), default=1, show_default=True,
              help="Data-parallel processes (torchrun, gloo on CPU).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.option("--overwrite", is_flag=True,
              help="Replace a previous run in the run folder and an exported model in the export folder "
                   "(without it, both are refused before training).")
def train_cmd(config: Path, out: Path | None, export: bool | None, nproc_per_node: int, no_progress: bool,
              overwrite: bool) -> None:
    """Train from a TOML CONFIG: models, CSP+LDA baseline, report (JSON, markdown, plots), export."""
    argv = [str(config)] + (["--out", str(out)] if out else []) + (["--no-progress"] if no_progress else [])
    argv += ["--overwrite"] if overwrite else []
    if export is not None:
        argv.append("--export" if export else "--no-export")
    if nproc_per_node > 1 and "WORLD_SIZE" not in os.environ:
        from bci_stream.core.errors import BciStreamError
        from bci_stream.train.run import preflight

        try:
            preflight(config, out, export, overwrite)
        except BciStreamError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        # Refusals found only in the processes: one error line, exit 2 (bci_stream.train.launch).
        sys.exit(run_forwarding([sys.executable, "-m", "bci_stream.train.launch", str(nproc_per_node), *argv]))
    sys.exit(main(argv))


def run_forwarding(cmd: list[str]) -> int:
    """Run ``cmd`` (the launcher) to its end, passing on a SIGTERM, SIGINT or SIGHUP this process gets, so that
    stopping ``bci-stream train`` (``kill PID``, a scheduler, Ctrl-C) stops the training: before, a SIGTERM ended
    this process alone and the launcher and its processes trained on, orphaned. The launcher runs in a session of
    its own, so a Ctrl-C reaches it once, from here (torchrun stops its processes on the first)."""
    import contextlib
    import signal

    proc = subprocess.Popen(cmd, start_new_session=True)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    return proc.wait()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bci_stream.train`` (what torchrun starts in every process)."""
    import argparse

    from bci_stream.core.errors import BciStreamError

    p = argparse.ArgumentParser(prog="python -m bci_stream.train", description="Train from a TOML config.")
    p.add_argument("config", type=Path)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--export", dest="export", action="store_true", default=None)
    p.add_argument("--no-export", dest="export", action="store_false")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    import signal

    from bci_stream.train.run import run_file

    # SIGTERM (`kill PID`, a scheduler; torchrun passes it on to each process) stops a process as Ctrl-C does: the run
    # folder says it was interrupted (before: exit 143, no word; audit s68train F3, s68readme F1)
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    try:
        run_file(args.config, out_dir=args.out, export=args.export, progress=not args.no_progress,
                 overwrite=args.overwrite)
    except BciStreamError as exc:
        from bci_stream.train.launch import report_error

        if not report_error(str(exc)):  # under bci-stream train --nproc-per-node, the launcher prints it once
            print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from bci_stream.train.launch import ERRORS_ENV

        if os.environ.get(ERRORS_ENV) is None:  # not under bci-stream train's launcher
            raise
        return 130  # Ctrl-C reaches every process: no traceback from each (the launcher exits 130 quietly)
    return 0


#: The files ``evaluate --out`` writes (the plots beside them): offline, and with ``--live``.
EVALUATION_FILES = {False: ("evaluation.json", "evaluation.md"), True: ("evaluation_live.json", "evaluation_live.txt")}


class InputError(click.ClickException):
    """Files, model or options that cannot be evaluated: exit code 2, as ``calibrate``'s refusals."""

    exit_code = 2


def _model_error(exc: Exception, registry_given: bool) -> InputError:
    """``exc`` as evaluate's error; a model not found in the default registry (no ``--models-dir``) also says how
    to name another: before, a model calibrated with ``--out DIR`` was only "not found in <the default registry>"."""
    from bci_stream.core.errors import ModelNotFoundError

    hint = ("; a model calibrated with calibrate --out DIR is in DIR: give --models-dir DIR, or the model's folder "
            "DIR/NAME as MODEL") if isinstance(exc, ModelNotFoundError) and not registry_given else ""
    return InputError(f"{exc}{hint}")


def _label_map(items: tuple[str, ...], pairs: tuple[str, ...] = ()) -> dict[str, str | None] | None:
    """``--labels EVENT=CLASS[,...]`` items (comma lists) and ``--label EVENT=CLASS`` items (one pair each, split at
    the last '=') as one label map (``EVENT=``: ignore the event); None when none is given."""
    from bci_stream.io.errors import LabelMapError
    from bci_stream.io.labels import merge_label_maps

    if not items and not pairs:
        return None
    try:
        return merge_label_maps(items, pairs, list_flag="--labels", allow_ignore=True)
    except LabelMapError as exc:
        raise click.BadParameter(str(exc), param_hint="--label-map/--labels/--label") from None


def _seconds(text: str | None) -> list[float] | None:
    if text is None:
        return None
    items = comma_items(text)
    if items is None and any(v.strip() for v in text.split(",")):  # 0.5,,1: a time left out (none: refused below)
        raise click.BadParameter(f"must be seconds separated by single commas (e.g. 0.5,1,2,3), with no empty item; "
                                 f"got {text!r}", param_hint="--decision-times")
    try:
        values = [float(v) for v in items or ()]
    except ValueError:
        raise click.BadParameter(f"must be comma-separated seconds such as 0.5,1,2,3; got {text!r}",
                                 param_hint="--decision-times") from None
    if not values or any(not (v >= 0 and v != float("inf")) for v in values):
        raise click.BadParameter(f"must be finite seconds >= 0 (at least one); got {text!r}",
                                 param_hint="--decision-times")
    return sorted(set(values))  # the tables and curves read from early to late


def _calibrate_option(name: str) -> Any:
    """``calibrate``'s option ``name`` (flags, metavar, help): one wording for both commands."""
    from bci_stream.train.classical.calibrate import calibrate_cmd

    opt = next((p for p in calibrate_cmd.params if p.name == name), None)
    if opt is None:
        raise RuntimeError(f"evaluate borrows calibrate's option {name!r}, which calibrate no longer has")
    return click.option(*opt.opts, name, default=None, metavar=opt.metavar, help=opt.help, callback=opt.callback)


@click.command("evaluate")
@click.argument("model")
@click.option("--data", "data", multiple=True, required=True, type=PathArg(path_type=Path, dir_okay=False),
              help="A recording (repeat for several; trials are pooled).")
@click.option("--label-map", "--labels", "label_map", multiple=True, metavar="EVENT=CLASS[,...]",
              help="Event → class, comma-separated or repeated (e.g. T1=fists,T2=feet); default: the model's own.")
@click.option("--label", "label_pairs", multiple=True, metavar="EVENT=CLASS",
              help="One event → class, split at the LAST '=', so EVENT may hold ',' and '=' (e.g. --label "
                   "'cond=1=left'); EVENT= ignores it; repeat it; may add to --labels.")
@click.option("--trial-classes", default=None, help="Comma-separated classes scored per trial (default: the model's).")
@click.option("--decision-times", default=None, metavar="S[,S...]",
              help="Seconds after cue at which trials are decided (default: 0.5,1,2,3 live; 0.5,1,2,2.5,3 offline).")
@click.option("--live", is_flag=True,
              help="Replay each recording on LSL through a real in-process service and score its decoded stream "
                   "(also checks decoded == sent and live == offline).")
@click.option("--speed", type=float, default=None, callback=finite,
              help="With --live: replay pace in times real time (1 <= speed <= 32; default 4).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="With --live: the in-process service's port on 127.0.0.1 (default: a free one).")
@click.option("--reference-train", "reference_train", multiple=True,
              type=PathArg(path_type=Path, dir_okay=False),
              help="With --live: a calibration recording (repeat) to fit the epoch CSP+LDA and TS+LR references on, "
                   "scored on the same files at the same cues.")
@click.option("--out", type=PathArg(path_type=Path), default=None,  # (a file: the one-line error below)
              help="Folder for evaluation.json / .md and plots (with --live: evaluation_live.json / .txt); an earlier "
                   "evaluation there is refused before any work, unless --overwrite.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier evaluation's files in --out.")
@click.option("--models-dir", type=PathArg(path_type=Path, file_okay=False), default=None,
              help="Registry to look MODEL up in when it is a name.")
@_calibrate_option("stream")
@_calibrate_option("marker_stream")
@_calibrate_option("channel_names")
@_calibrate_option("event_fields")
@bci2000_options
@click.option("--bad-events", default=None, metavar="NAME,...", callback=name_list,
              help="Events whose span marks bad data (e.g. 1023): the trials overlapping them are not scored, as "
                   "those overlapping BAD* annotations, a discontinuity (EEGLAB boundary, mne's concatenation, "
                   "BrainVision New Segment) or NaN/inf samples (and the settling after the last two) are not, nor "
                   "the samples of those spans; each said per file (calibrate's rule and checks). With --live too: "
                   "the live figures and the epoch references score the same trials (the service itself scores every "
                   "cue).")
@click.option("--no-progress", is_flag=True,
              help="No progress lines: with --live, those of the service and of each file's replay (their figures, "
                   "the warnings and the tables are printed all the same); offline evaluate draws none.")
@click.pass_context
def evaluate_cmd(ctx: click.Context, model: str, data: tuple[Path, ...], label_map: tuple[str, ...],
                 label_pairs: tuple[str, ...], trial_classes: str | None, decision_times: str | None, live: bool,
                 speed: float | None, port: int | None,
                 reference_train: tuple[Path, ...], out: Path | None, overwrite: bool, models_dir: Path | None,
                 stream: str | None, marker_stream: str | None, channel_names: str | None, event_fields: str | None,
                 state: str | None, type_state: str | None, include_zero: bool | None, bad_events: str | None,
                 no_progress: bool) -> None:
    """Score MODEL (checkpoint .pt, model folder, or registry name[@version]) on recordings.

    With --live, MODEL runs in a real service (LSL in, decoded LSL out) and the decoded stream is scored.
    --stream, --marker-stream, --channel-names, --event-fields and the BCI2000 flags (--state, --type-state,
    --include-zero) read every --data and --reference-train file as calibrate reads its FILEs; cue markers without a
    duration (the service's own recordings) are scored from their onsets.
    """
    from bci_stream.core.errors import BciStreamError
    from bci_stream.core.out_folder import out_folder_problem
    from bci_stream.io.channel_names import read_channel_names
    from bci_stream.train.classical.calibration_inputs import parse_channels, reader_options

    times = _seconds(decision_times)
    if out is not None and (why := out_folder_problem(out, "--out")) is not None:
        raise InputError(why)
    if out is not None and not overwrite and (held := [n for n in EVALUATION_FILES[live] if (out / n).exists()]):
        raise InputError(f"--out {out} already holds {' and '.join(held)} of an earlier evaluation: give another "
                         "--out, or --overwrite to replace it")
    if not live and (given := [f for f, v in (("--speed", speed is not None), ("--reference-train", reference_train),
                                              ("--port", port is not None)) if v]):
        raise click.UsageError(f"{' and '.join(given)} need{'s' if len(given) == 1 else ''} --live")
    if speed is not None:
        from bci_stream.train.evaluate.live import MAX_SPEED

        if not 1 <= speed <= MAX_SPEED:  # (not a number: refused by its callback, finite)
            raise click.BadParameter(f"must be >= 1 and <= {MAX_SPEED:g} (times real time); got {speed!r}",
                                     param_hint="'--speed'")
    from bci_stream.train.evaluate.offline import onnx_file_problem

    if (why := onnx_file_problem(model)) is not None:
        raise InputError(why)
    try:
        names = read_channel_names(channel_names)
    except BciStreamError as exc:
        raise InputError(str(exc)) from None
    files = {"reader_options": {**reader_options(stream, marker_stream, parse_channels(event_fields)),
                                **bci2000_reader(state, type_state, include_zero)},
             "channel_names": names, "bad_events": parse_channels(bad_events) or ()}
    registry_given = models_dir is not None
    if models_dir is None and not Path(model).exists():
        try:  # a bad setting: one line naming it (before: a traceback, audit s66cli F7)
            from bci_stream.core.settings_errors import load_settings
            models_dir = load_settings().models_dir
        except BciStreamError as exc:
            raise click.UsageError(str(exc)) from None
    classes = trial_classes.split(",") if trial_classes else None
    if live:
        import signal

        from bci_stream.train.evaluate.live import evaluate_live
        from bci_stream.train.evaluate.live_table import live_table, write_live

        # SIGTERM (`kill PID`, a scheduler) stops it as Ctrl-C does: the in-process service and its workers shut down,
        # nothing left behind (before: killed at once, its worker's shared memory leaked)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            res = evaluate_live(model, list(data), _label_map(label_map, label_pairs), models_dir=models_dir,
                                speed=4.0 if speed is None else speed, port=port or 0,
                                **({"decision_times": times} if times else {}), trial_classes=classes,
                                reference_train=list(reference_train) or None, **files,
                                echo=_warnings_only if no_progress else click.echo,
                                log_level="warning" if no_progress else None)  # unless the user set a level
        except BciStreamError as exc:
            raise _model_error(exc, registry_given) from None
        click.echo("")
        click.echo(live_table(res))
        if out is not None:
            for path in write_live(res, out):
                click.echo(f"wrote {path}")
        if not res["checks"]["passed"]:
            click.echo("error: the live decoding does not match what was sent / the offline decoding, or the "
                       "service's live score differs from the offline rule (see checks)", err=True)
            ctx.exit(1)
        return

    from bci_stream.train.evaluate.offline import evaluate_target, write_evaluation

    try:
        res = evaluate_target(model, list(data), label_map=_label_map(label_map, label_pairs), models_dir=models_dir,
                              trial_classes=classes, **({"times_s": times} if times else {}), **files)
    except BciStreamError as exc:
        raise _model_error(exc, registry_given) from None
    for warning in res["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    for note in res["notes"]:  # a note that is a warning (e.g. a file's implausible amplitude) says so
        click.echo(note if note.startswith("warning:") else f"note: {note}", err=note.startswith("warning:"))
    m = res["metrics"]
    if m["sample_accuracy"] is None:  # before: a TypeError traceback
        raise InputError(f"nothing to score in {', '.join(Path(f).name for f in res['files'])}: no labelled sample is "
                         "left (every trial was left out; the notes above say why)")
    kind = res["kind"] + ("" if not res.get("non_causal") else ", non-causal: offline upper bounds"
                          if res.get("lookahead") is None else f", non-causal: lookahead K={res['lookahead']}, offline")
    chance = "" if m.get("chance_trial_accuracy") is None else (
        f"; chance {m['chance_trial_accuracy']:.3f} (the share of the most frequent trial class)")
    click.echo(f"{res['model']} ({kind}) on {len(res['files'])} file(s): {m['n_trials']} trials "
               f"{m['trials_per_class']}, sample accuracy {m['sample_accuracy']:.3f}{chance}")
    for t, row in m["trial_accuracy"].items():
        inst = "–" if row["instant"] is None else f"{row['instant']:.3f}"
        mean = "–" if row["mean"] is None else f"{row['mean']:.3f}"
        short = m["n_trials"] - row["n_trials"]  # cues whose decision sample is not in their file
        why = f"; {short} of {m['n_trials']} not decided: cue + {t} is not in their file" if short > 0 else ""
        click.echo(f"  trial accuracy @{t:>5}: instant {inst}  mean {mean}  (n={row['n_trials']}{why})")
        if (per := row.get("instant_per_class")) and row["n_trials"]:  # a score above chance may hide a class
            click.echo("    instant, per class: " + ", ".join(f"{c} {k}/{n}" for c, (k, n) in per.items()))
    if out is not None:
        write_evaluation(res, out)
        click.echo(f"wrote {out / 'evaluation.md'}")


def _warnings_only(line: str) -> None:
    """``evaluate --live --no-progress``'s echo: the warnings said before the replay (the tables repeat them), no
    progress line."""
    if line.startswith("warning:"):
        click.echo(line)
