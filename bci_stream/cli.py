"""The ``bci-stream`` command line.

Nothing of bci-stream is imported at this module's top level, and the trainer's commands (``train``, ``evaluate``,
``calibrate``) are imported only when named (:class:`LazyGroup`): ``serve``'s worker processes are spawned, and
spawn runs the main script again in each (``from bci_stream.cli import main``) before the worker's code-stamp
check (:mod:`bci_stream.service.code_stamp`), so this import must not reach code an edit under a running ``serve``
may have broken.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from pathlib import Path

import click

from bci_stream.cli_checks import CHUNK_SIZE, SECONDS, SIM_SFREQ, PathArg, finite, missing_extra, played_name, say

#: Commands defined elsewhere: name -> (module, attribute), imported when the command is used or listed in help.
LAZY_COMMANDS = {
    "train": ("bci_stream.train.cli", "train_cmd"),
    "evaluate": ("bci_stream.train.cli", "evaluate_cmd"),
    "calibrate": ("bci_stream.train.classical.calibrate", "calibrate_cmd"),
    "export": ("bci_stream.train.export_run", "export_cmd"),
    "record": ("bci_stream.service.record_cli", "record_cmd"),
    "replay": ("bci_stream.sim.replay_cli", "replay_cmd"),
}


class LazyGroup(click.Group):
    """A click group whose :data:`LAZY_COMMANDS` are imported on use (click's documented lazy-loading pattern), and
    whose commands end on a :class:`~bci_stream.io.errors.RecordingWarning` that escapes as an error (``python -W
    error``) with one ``error: FILE: ...`` line and exit code 2, as on the other input errors, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ImportError as exc:  # Ctrl-C during an import that re-raises it as its own error (onnxruntime's)
            if not interrupted(exc):
                raise
            raise click.Abort() from None  # "Aborted!", exit 1, as for Ctrl-C anywhere else (audit s64cal F2)
        except UserWarning as exc:  # bci_stream.io is imported only then
            from bci_stream.io.errors import RecordingWarning

            if not isinstance(exc, RecordingWarning):
                raise
            click.echo(f"error: {' '.join(str(exc).splitlines())}", err=True)
            ctx.exit(2)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple:
        name, cmd, rest = super().resolve_command(ctx, args)
        if name is not None and (why := missing_extra(name, rest)) is not None:
            click.echo(f"Error: {why}", err=True)
            ctx.exit(2)
        return name, cmd, rest

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module, attribute = LAZY_COMMANDS[cmd_name]
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, cmd_name)


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by a Ctrl-C (a :class:`KeyboardInterrupt` among its causes or contexts)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bci-stream")
def main() -> None:
    """bci-stream: real-time streaming decoder service for brain-computer interfaces."""
    from bci_stream.lsl.log_config import quiet_liblsl_log

    quiet_liblsl_log()  # liblsl's INFO lines off unless the user configured liblsl (before any liblsl call)
    # onnxruntime's telemetry (1DS) off unless the user asked for it, before onnxruntime is imported (the processes
    # started from here inherit it): it wrote a device id and a database into the user's HOME (~/.cache/Microsoft/
    # DeveloperTools/.onnxruntime), and where HOME is not writable printed a coloured warning in every process
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    show_recording_warnings()


def show_recording_warnings() -> None:
    """Print each :class:`~bci_stream.io.errors.RecordingWarning` (what a reader noticed in a file that still loads;
    its message starts with the file's name) as one ``warning: FILE: ...`` line on stderr, as the commands print
    their other warnings, without the path and source line of our code that raised it, and each distinct message
    once per process: a command that reads a file twice (``evaluate --live`` with the same file as ``--data`` and
    ``--reference-train``) says it once, though the readers' ``catch_warnings`` reset Python's once-per-location
    rule. Every other warning is shown as before. Installed by :func:`main` for the command's run (once: a second
    call keeps the first hook)."""
    import warnings

    previous = warnings.showwarning
    if getattr(previous, "recording_warnings", False):
        return
    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        from bci_stream.io.errors import RecordingWarning

        if issubclass(category, RecordingWarning):
            text = " ".join(str(message).splitlines())
            if text not in shown:
                shown.add(text)
                bars = sys.modules.get("tqdm")  # a progress bar drawn (calibrate's loading): the line goes above it
                with bars.tqdm.external_write_mode(file=sys.stderr) if bars else contextlib.nullcontext():
                    click.echo(f"warning: {text}", err=True)
        else:
            previous(message, category, filename, lineno, file, line)

    show.recording_warnings = True  # type: ignore[attr-defined]
    warnings.showwarning = show


@main.command()
@click.option("--name", default="bci-stream-sim", show_default=True, callback=played_name, help="LSL stream name.")
@click.option("--n-chans", type=click.IntRange(min=1), default=64, show_default=True, help="Channels (10-10 names).")
@click.option("--sfreq", type=SIM_SFREQ, default=160.0, show_default=True, callback=finite, help="Sampling rate, Hz.")
@click.option("--duration", type=SECONDS, default=None, callback=finite, help="Seconds to stream [default: to Ctrl-C].")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed: repeats the run.")
@click.option("--chunk-size", type=CHUNK_SIZE, default=None,
              help="Samples per push (default sfreq/32; at most 60 s of samples).")
@click.option("--line-freq", type=click.FloatRange(min=0), default=50.0, show_default=True, callback=finite,
              help="Line-noise frequency in Hz (0 for none).")
@click.option("--source-id", default=None, callback=played_name, help="LSL source_id (default bci-stream-sim-NAME).")
def simulate(name: str, n_chans: int, sfreq: float, duration: float | None, seed: int, chunk_size: int | None,
             line_freq: float, source_id: str | None) -> None:
    """Stream synthetic EEG (type EEG, µV) with cued motor-imagery trials, and cues on NAME-markers.

    Ctrl-C or SIGTERM stops it (exit code 0)."""
    import signal

    from bci_stream.sim.player import run_simulator
    from bci_stream.sim.quiet_end import ignore_stop_signals

    if chunk_size is not None and chunk_size > 60 * sfreq:  # each chunk is made whole first (2**31 samples: 288 GiB)
        raise click.BadParameter(f"must be at most 60 s of samples ({int(60 * sfreq)} at {sfreq:g} Hz), got "
                                 f"{chunk_size}", param_hint="'--chunk-size'")
    until = "Ctrl-C to stop" if duration is None else f"for {duration:g} s (Ctrl-C stops it sooner)"
    click.echo(f"streaming '{name}' ({n_chans} ch, {sfreq:g} Hz, µV) and markers on '{name}-markers'; {until}")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill PID` stops it as Ctrl-C does (before: -15)
    try:
        n = run_simulator(name=name, n_chans=n_chans, sfreq=sfreq, duration=duration, seed=seed,
                          chunk_size=chunk_size, source_id=source_id, line_freq=line_freq or None)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    except KeyboardInterrupt:  # before it streamed (its filters warm up for seconds at high rates: audit s70sim F4)
        n = 0
    ignore_stop_signals()  # it has ended: a stop signal now ends nothing more (s67rec F1)
    click.echo(f"pushed {n} samples")


class _CantStart(click.ClickException):
    """The server cannot start with these settings (busy port, unreachable Ray head): one ``Error:`` line, exit 2."""

    exit_code = 2


def _settings(**flags: object):
    """The settings, ``flags`` (this command's options; None: not given) over the environment, .env and config file;
    a bad value is a usage error (exit 2) naming its flag, variable or config key, the rule and the value."""
    from bci_stream.core.settings import ConfigFileError
    from bci_stream.core.settings_errors import SettingsError, load_settings

    try:
        return load_settings(**flags)
    except (SettingsError, ConfigFileError) as exc:
        raise click.UsageError(str(exc)) from None


@main.command()
@click.option("--host", default=None, help="Bind address [default 127.0.0.1, env BCI_STREAM_HOST].")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port [default 8000, env BCI_STREAM_PORT].")
@click.option("--models-dir", type=PathArg(path_type=Path, file_okay=False), default=None,
              help="Model registry folder [env BCI_STREAM_MODELS_DIR].")
@click.option("--config", type=PathArg(path_type=Path, dir_okay=False), default=None,
              help="TOML config file; environment and .env override it [env BCI_STREAM_CONFIG].")
@click.option("--backend", type=click.Choice(["local", "ray"]), default=None,
              help="Where workers run: local processes, or Ray actors [default local, env BCI_STREAM_BACKEND].")
@click.option("--ray-address", default=None,
              help="Ray cluster address host:port (backend ray) [default RAY_ADDRESS or a cluster on this host, "
                   "env BCI_STREAM_RAY_ADDRESS].")
def serve(host: str | None, port: int | None, models_dir: Path | None, config: Path | None, backend: str | None,
          ray_address: str | None) -> None:
    """Run the HTTP control plane (FastAPI on uvicorn). Set BCI_STREAM_TOKEN to require a bearer token.

    Ctrl-C or SIGTERM stops the decoders, then the server; exit code 0 after either. With ``--backend ray``
    each decoder's worker is a Ray actor (``pip install '.[cluster]'`` from the checkout; see deploy/RAY.md)."""
    settings = _settings(host=host, port=port, models_dir=models_dir, config=config, backend=backend,
                         ray_address=ray_address)
    if settings.backend == "ray":
        import importlib.util

        from bci_stream.core.settings_errors import setting_origin

        if importlib.util.find_spec("ray") is None:
            raise click.UsageError(f"backend 'ray' ({setting_origin('backend', settings)}) needs Ray: pip install "
                                   "'.[cluster]' (from the bci-stream checkout)")
        from bci_stream.core.errors import PlacementError
        from bci_stream.service.backends.ray_backend import connect_ray
        from bci_stream.service.backends.ray_connect import listen_problem

        try:  # before uvicorn: a refusal in its startup would come with a traceback; the backend uses this connection
            connect_ray(settings.ray_address, settings.ray_start_timeout)
        except PlacementError as exc:  # nothing answers, Ray's own error, or no Ray answer within ray_start_timeout
            raise _CantStart(str(exc)) from None
        if problem := listen_problem(settings.ray_listen_host):  # where workers connect back: also before uvicorn
            origin = setting_origin("ray_listen_host", settings)
            raise _CantStart(f"ray_listen_host {settings.ray_listen_host!r} ({origin}): {problem}; give an address of "
                             "this host, or leave it unset (the address Ray uses for this node)")
    from bci_stream.api.server import bind_problem, host_problem
    from bci_stream.api.startup_log import open_api_problem

    if problem := host_problem(settings.host):  # before the port: its advice would be wrong
        raise _CantStart(f"{problem}: pass --host (127.0.0.1: this host only; 0.0.0.0: every interface) or set "
                         "BCI_STREAM_HOST")
    if problem := open_api_problem(settings):
        raise _CantStart(problem)
    if problem := bind_problem(settings.host, settings.port):
        raise _CantStart(f"{problem}: pass --port (0: any free port) or set BCI_STREAM_PORT")
    try:
        from bci_stream.api.server import serve as run

        run(settings)
    except KeyboardInterrupt:  # Ctrl-C while starting, before uvicorn handles the signals itself
        pass


@main.command()
@click.option("--duration", type=SECONDS, default=None, callback=finite,
              help="Seconds to decode, counted from the first decoded sample, give or take a second (default: "
                   "until Ctrl-C).")
@click.option("--model", "model_ref", default="sim-mi-gru", show_default=True, help="Model name[@version].")
@click.option("--host", default=None, help="Bind address of the API [default 127.0.0.1, env BCI_STREAM_HOST].")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="API port (0: any free port) [default 8000, env BCI_STREAM_PORT].")
@click.option("--models-dir", type=PathArg(path_type=Path, file_okay=False), default=None,
              help="Model registry folder [env BCI_STREAM_MODELS_DIR].")
def demo(duration: float | None, model_ref: str, host: str | None, port: int | None, models_dir: Path | None) -> None:
    """Simulated EEG → service → decoder with the bundled model; prints a status line every second."""
    from bci_stream.demo import run_demo

    import signal

    # SIGTERM (`kill PID`) stops it as Ctrl-C does: the decoder, then the simulator (before, the simulator was left
    # streaming with no end: audit s66cli F11); the deployment's [[decoders]] are not started (audit s66cli F8)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # and Ctrl-C (`kill -INT`) when started in the background by a script, which starts it with SIGINT ignored
    # (audit s68bench F2; the bench does the same: latency_bench/interrupt.py)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(run_demo(duration, _settings(host=host, port=port, models_dir=models_dir, decoders=[]), model_ref,
                      say))


@main.command("inspect")
@click.argument("model")
@click.option("--models-dir", type=PathArg(path_type=Path, file_okay=False), default=None)
@click.option("--out", type=PathArg(path_type=Path, file_okay=False), default=None,
              help="Folder for report.json and time_constants.png.")
def inspect_cmd(model: str, models_dir: Path | None, out: Path | None) -> None:
    """Memory time constants of MODEL (registry name[@version], or a model folder): recurrent-Jacobian
    eigenmodes, and LSTM forget gates on data."""
    from bci_stream.analysis.introspect import run_inspect
    from bci_stream.core.out_folder import out_folder_problem

    if out is not None and (why := out_folder_problem(out, "--out")) is not None:
        raise click.UsageError(why)
    sys.exit(run_inspect(model, _settings(models_dir=models_dir).models_dir, out, say,
                         registry_given=models_dir is not None))


BENCH_WHATS = ("e2e", "inference", "scale", "soak", "grid", "all", "slots")
BENCH_MINUTES = ("soak",)
"""WHATs that take `bench --minutes`."""
BENCH_COMPARE = ("e2e", "soak", "grid", "all")
"""WHATs that take `bench --compare` (their bench.json is what `compare` reads)."""


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("what", type=click.Choice(list(BENCH_WHATS)))
@click.option("--profile", type=click.Choice(["quick", "full"]), default="quick", show_default=True)
@click.option("--quick", "quick_flag", is_flag=True, help="Same as --profile quick.")
@click.option("--out", type=PathArg(path_type=Path, file_okay=False), default=None,
              help="Folder for the JSON, markdown and plots (default latency_bench/results/<time>/).")
@click.option("--minutes", type=SECONDS, default=None, callback=finite,
              help="Soak duration (soak only).")
@click.option("--compare", type=PathArg(path_type=Path, dir_okay=False, exists=True), default=None,
              metavar="OLD.json",
              help="Print this run's figures as ratios to those of OLD.json (e2e, soak, grid, all).")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def bench(what: str, profile: str, quick_flag: bool, out: Path | None, minutes: float | None, compare: Path | None,
          extra: tuple[str, ...]) -> None:
    """Benchmarks (needs the `bench` or `train` extra). They measure and report; they assert nothing.

    Other options go to `python -m latency_bench WHAT` (see its --help; each WHAT takes only the options it uses),
    e.g. --seconds, --scale-levels; for `scale`: --scale-levels 1,4,16,32,64 --chunk-sizes 1,10 (relay vs slots
    vs process side by side)."""
    from latency_bench.__main__ import run as bench_run

    sys.exit(bench_run(bench_argv(what, profile, quick_flag, out, minutes, compare, extra)))


def bench_argv(what: str, profile: str, quick_flag: bool, out: Path | None, minutes: float | None,
               compare: Path | None, extra: tuple[str, ...] | list[str]) -> list[str]:
    """The `python -m latency_bench` command line of `bci-stream bench`; `--minutes`/`--compare` only where taken."""
    if quick_flag and profile == "full":  # before: the quick profile ran, the full one asked for (audit s68bench F6)
        raise click.UsageError("--quick is --profile quick, which --profile full contradicts: give one of them")
    for flag, value, takers in (("--minutes", minutes, BENCH_MINUTES), ("--compare", compare, BENCH_COMPARE)):
        if value is not None and what not in takers:
            raise click.UsageError(f"{flag} is not an option of `bench {what}` (only of: {', '.join(takers)})")
    argv = [what, "--profile", "quick" if quick_flag else profile] + (["--out", str(out)] if out else [])
    argv += (["--minutes", str(minutes)] if minutes else []) + (["--compare", str(compare)] if compare else [])
    return argv + list(extra)


@main.command("models")
@click.option("--models-dir", type=PathArg(path_type=Path, file_okay=False), default=None)
def list_models(models_dir: Path | None) -> None:
    """List the models in the registry (name@version, channels, rate, outputs)."""
    from bci_stream.core.model_dirs import is_shipped
    from bci_stream.core.registry import ModelRegistry

    registry = ModelRegistry(_settings(models_dir=models_dir).models_dir)
    if (why := registry.root_problem()) is not None:
        where = "--models-dir" if models_dir is not None else "setting models_dir"  # maybe from env or config
        raise _CantStart(f"{where}: {why} (give --models-dir or set BCI_STREAM_MODELS_DIR)")  # exit 2, as a bad flag
    checked, problems = registry.checked()  # what /ready says in model_problems, in the same words
    refs = [e.card.ref for e, _ in checked]
    for e, why in checked:
        c, a = e.card, e.card.architecture
        what = f"{a.cell.upper()} L{a.n_layers} H{a.hidden_size}" if a.family == "recurrent" else a.family
        where = f"  in {e.directory}" if refs.count(c.ref) > 1 else ""  # copies of one model: which folder is which
        click.echo(f"{c.ref:<28} {what:<12} {c.n_chans} ch @ {c.sfreq:g} Hz -> {c.output.kind} {c.output.labels}"
                   f"  sha256 {c.sha256[:12]}" + ("  CANNOT LOAD (problem below)" if why else "") + where)
    for p in dict.fromkeys(problems + [why for _, why in checked if why is not None]):  # a problem of copies: once
        click.echo(f"problem: {p}", err=True)
    if not checked and not problems:
        click.echo(f"no model in {registry.root}", err=True)
    elif models_dir is None and is_shipped(registry.root):
        click.echo(f"(the bundled models of this install, in {registry.root}: read only; --models-dir or "
                   "BCI_STREAM_MODELS_DIR names another registry)", err=True)


#: What upgrade-model's step-cost warning advises (a model this machine cannot run at its rate, one sample a call)
UPGRADE_ADVICE = ("a sender pushing chunks costs less per sample; else a smaller model, a dedicated worker or a "
                  "faster host: the service's load.warning says when a decoder cannot keep up")


@main.command("upgrade-model")
@click.argument("model_dirs", nargs=-1, required=True, type=PathArg(path_type=Path, file_okay=False, exists=True))
def upgrade_model(model_dirs: tuple[Path, ...]) -> None:
    """Rewrite model folders of card format 1 as step graphs (format 2), in place (needs the `train` extra).

    The card's preprocessing is written in front of the network; nothing is written unless the new graph,
    run one sample at a time, reproduces the old preprocessing + network. The old graph is kept as
    model.format1.onnx beside the new one (the registry ignores it). A folder already in format 2 is left
    as it is (said, not an error; an error when no decoder could load it). Exit code 1 when a folder could not be
    upgraded, else 0."""
    try:
        from bci_stream.train.classical.step_cost import step_cost
        from bci_stream.train.export.upgrade import FORMAT1_FILE, AlreadyUpgraded, upgrade_model_dir
    except ImportError as exc:
        raise click.ClickException(f"upgrade-model needs the train extra (pip install 'bci-stream[train]'): {exc}")
    from bci_stream.core.errors import ModelError

    failed = 0
    for d in model_dirs:
        try:
            card = upgrade_model_dir(d)
            click.echo(f"{d}: {card.ref} is now a step graph (parity {card.parity.max_abs_diff:.2g}, "
                       f"sha256 {card.sha256[:12]}); your format-1 graph is kept as {d / FORMAT1_FILE}")
            cost = step_cost(d, advice=UPGRADE_ADVICE)  # measured here, as calibrate's report does; never a refusal
            click.echo(f"{d}: step cost on this machine, one sample per call: p50 {cost['p50_us']:.0f} µs, p99 "
                       f"{cost['p99_us']:.0f} µs (sample period {cost['sample_period_us']:.0f} µs at "
                       f"{card.sfreq:g} Hz)")
            if cost["warning"]:
                click.echo(f"{d}: warning: {cost['warning']}", err=True)
        except AlreadyUpgraded as exc:  # a no-op, not a failure
            click.echo(f"{d}: {exc}")
        except (ModelError, OSError) as exc:  # one line per folder, no traceback
            failed += 1
            click.echo(f"{d}: {exc}", err=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
