"""``python -m latency_bench {e2e,inference,scale,soak,grid,all} [--profile quick|full] [--out DIR] ...``.

Also: ``compare NEW.json OLD.json`` (ratios of the headline figures), ``readme RESULT.json`` (the table of
``latency_bench/README.md``), ``setup-timeflux`` (the timeflux peer's own virtualenv), ``slots`` (N streams of one
model: N ``StepModel.run`` calls vs one ``SlotTable.step_ready`` call, ``latency_bench/slots.py``).
``scale`` is its own report (``latency_bench/scale_bench.py``): ``--scale-levels 1,4,16,32,64 --chunk-sizes 1,10``,
relay vs slots vs process side by side, then the catch-up of a backlog per stream pushed at once
(``--backlog-s 30 --catchup-streams 1,4``).
Each sub-command takes only the options it reads (:data:`latency_bench.cli_args.RUN_OPTIONS`); any other is
refused, naming it. A run whose section failed exits 1 (the report says which and why).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from latency_bench.cli_args import build_parser, parse_args

RESULTS_DIR = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent / "README.md"


def _parser() -> argparse.ArgumentParser:
    """The parser of every sub-command (:mod:`latency_bench.cli_args`); :func:`main` parses with ``parse_args``."""
    return build_parser()


def _out_dir(out: Path | None) -> Path:
    return out or RESULTS_DIR / dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _print_compare(new: dict, old_path: Path) -> None:
    from latency_bench.compare import compare, format_compare, load

    old = load(old_path)
    print(f"\nCompared with {old_path} ({old.get('created')}):\n", file=sys.stderr)
    print(format_compare(compare(new, old), str(old.get("created")), str(new.get("created"))), end="")


def main(argv: list[str] | None = None) -> int:
    """Run a benchmark, write its report, print the markdown to stdout (progress to stderr)."""
    args = parse_args(argv)

    def echo(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.bench != "compare" and (missing := _missing_bench_extra()):  # before: a traceback deep in a section
        return _refuse(f"`bench {args.bench}` needs {missing}, which the runtime install (`pip install .`) has not: "
                       "install the bench extra (`pip install '.[bench]'`, torch==2.13.0 first); a deployed decoder's "
                       "own latency is in its status (`GET /decoders/{id}`, `latency_ms`) and /metrics")
    if getattr(args, "out", None) is not None:  # before: a traceback when written, after the measurement (s68bench F3)
        from bci_stream.core.out_folder import out_folder_problem

        if (why := out_folder_problem(args.out, "--out")) is not None:
            return _refuse(why)
    if args.bench == "inference":
        from bci_stream.core.settings import default_models_dir
        from latency_bench.inference import format_markdown, run_inference_bench

        out = _out_dir(args.out)
        models_dir = None if args.no_models else (args.models_dir or default_models_dir())
        result = run_inference_bench(quick=args.profile == "quick", out_dir=out, echo=echo, models_dir=models_dir,
                                     steps=args.inference_steps)
        print(format_markdown(result), end="")
        print(f"wrote {out}/inference.json, inference.md, inference.png", file=sys.stderr)
        return 0
    if args.bench == "compare":
        from latency_bench.compare import compare, format_compare, load

        try:
            new, old = load(args.new), load(args.old)
        except (OSError, ValueError) as exc:
            return _refuse(exc)
        print(format_compare(compare(new, old), str(old.get("created")), str(new.get("created"))), end="")
        return 0
    if args.bench == "readme":
        from latency_bench.compare import load
        from latency_bench.report import update_readme

        try:
            result = load(args.result)
        except (OSError, ValueError) as exc:
            return _refuse(exc)
        problem = _readme_profile_problem(result)
        if problem and not args.force:
            return _refuse(f"{problem}; pass --force to write it anyway")
        if problem:
            echo(f"warning: {problem}; written because of --force")
        update_readme(result, README)
        echo(f"updated {README}")
        return 0
    if args.bench == "cpu-profile":
        import json

        from latency_bench.cpu_profile import format_markdown as cpu_markdown, run_cpu_profile

        res = run_cpu_profile(args.seconds, use_perf=not args.no_perf, echo=echo)
        out = _out_dir(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "cpu_profile.json").write_text(json.dumps(res, indent=2))
        (out / "cpu_profile.md").write_text(cpu_markdown(res))
        print(cpu_markdown(res), end="")
        echo(f"wrote {out}/cpu_profile.json and cpu_profile.md")
        return 0
    if args.bench == "slots":
        from latency_bench.slots import format_markdown as slots_markdown, run_slots_bench

        out = _out_dir(args.out)
        print(slots_markdown(run_slots_bench(quick=args.profile == "quick", out_dir=out, echo=echo)), end="")
        echo(f"wrote {out}/slots.json and slots.md")
        return 0
    if args.bench == "scale":
        return _scale(args, argv, echo)
    if args.bench == "setup-timeflux":
        from latency_bench.peers import setup_timeflux

        return setup_timeflux()
    from latency_bench.compare import load as load_result
    from latency_bench.models import real_eeg_file
    from latency_bench.report import format_markdown
    from latency_bench.suite import make_profile, run_bench

    def opt(name: str) -> Any:  # the sub-commands take different options (cli_args.RUN_OPTIONS)
        return getattr(args, name, None)

    if opt("compare") is not None:
        try:  # refuse a bad OLD.json before measuring, not after
            load_result(opt("compare"))
        except (OSError, ValueError) as exc:
            return _refuse(exc)
    if (report := opt("lookahead_report")) is not None and not report.is_file():  # before measuring, not after
        what = "a folder" if report.is_dir() else "no such file"
        return _refuse(f"--lookahead-report must be the report.json of `bci-stream train`, got {report} ({what})")
    try:  # BCI_STREAM_DATA set but without the real EEG: refused before measuring, never simulated silently
        real_eeg_file()
    except ValueError as exc:
        return _refuse(exc)
    paths = opt("paths")
    profile = make_profile(args.profile, seconds=opt("seconds"), rounds=opt("rounds"),
                           scale_levels=opt("scale_levels"), backlog_s=opt("backlog_s"), grid_steps=opt("grid_steps"),
                           inference_steps=opt("inference_steps"), paths=paths.split(",") if paths else None)
    out = _out_dir(args.out)
    command = ["python -m latency_bench", *(argv if argv is not None else sys.argv[1:])]
    result = run_bench(args.bench, profile, out, echo=echo, minutes=opt("minutes"),
                       timeflux_python=opt("timeflux_python"), lookahead_report=opt("lookahead_report"),
                       argv=command, keep_work=bool(opt("keep_work")))
    print(format_markdown(result), end="")
    echo(f"wrote {out}/bench.json, bench.md and plots")
    if opt("compare") is not None:
        _print_compare(result, opt("compare"))
    return _exit_code(result, echo)


def _readme_profile_problem(result: dict[str, Any]) -> str | None:
    """Why ``result`` should not become the README table (documented as from a full run), or None when it is one."""
    name = (result.get("profile") or {}).get("name")
    if name == "full":
        return None
    return (f"the result's profile is {name!r}, not 'full': the table in latency_bench/README.md is documented as "
            "coming from a full run (`bci-stream bench all`, about 30 min)")


def _missing_bench_extra() -> str | None:
    """The modules of the bench extra this environment lacks (torch exports the benchmarks' networks, matplotlib
    plots the reports), as a phrase, or None."""
    import importlib.util

    missing = [m for m in ("torch", "matplotlib") if importlib.util.find_spec(m) is None]
    return " and ".join(missing) or None


def _refuse(exc: BaseException | str) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2


def _exit_code(result: dict[str, Any], echo: Callable[[str], Any]) -> int:
    """1 when a section failed (its error is in the report), else 0."""
    failed = [name for name, sec in (result.get("sections") or {}).items()
              if isinstance(sec, dict) and "error" in sec]
    failed += [f"{e.get('kind')} ({e.get('what') or 'chunks of ' + str(e.get('chunk_size'))})"
               for e in result.get("errors") or []]
    e2e = (result.get("sections") or {}).get("e2e")
    if isinstance(e2e, dict):  # a path that was tried and measured nothing (a missing peer is only "not run")
        failed += [f"e2e {rate} {kind}" for rate, r in e2e.items() if isinstance(r, dict)
                   for kind, p in (r.get("paths") or {}).items() if isinstance(p, dict) and p.get("failed")]
    failed += _scale_failures(result)
    if failed:
        echo(f"error: {len(failed)} section(s) failed: {', '.join(failed)} (see the report)")
        return 1
    return 0


def _scale_failures(result: dict[str, Any]) -> list[str]:
    """A scale kind and chunk size of which no level could be set up (not even one stream: its first level is in
    ``levels_not_run``, no row measured), and a catch-up row that received nothing. A higher level not set up (too
    little memory for more processes) is a result, not a failure. Before: both were in the report, and the run
    exited 0."""
    measured = {(r.get("kind"), r.get("chunk_size")) for r in result.get("rows") or []}
    failed = [f"scale {e.get('kind')} (chunks of {e.get('chunk_size')}): no level set up"
              for e in result.get("levels_not_run") or [] if (e.get("kind"), e.get("chunk_size")) not in measured]
    return failed + [f"scale catch-up {r.get('kind')} ({r.get('n_streams')} stream(s)): nothing received"
                     for r in result.get("catchup") or [] if not r.get("received")]


def _scale(args: argparse.Namespace, argv: list[str] | None, echo: Callable[[str], Any]) -> int:
    from latency_bench.scale import DEFAULT_CHUNK_SIZES, DEFAULT_LEVELS, KINDS
    from latency_bench.scale_bench import (DEFAULT_CATCHUP_S, DEFAULT_CATCHUP_STREAMS,
                                           format_markdown as scale_markdown, run_scale_bench)

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else list(KINDS)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        print(f"--kinds must be among {','.join(KINDS)}, got {args.kinds!r}", file=sys.stderr)
        return 2
    full = args.profile == "full"
    seconds = args.seconds or (20.0 if full else 5.0)
    out = _out_dir(args.out)
    command = ["python -m latency_bench", *(argv if argv is not None else sys.argv[1:])]
    res = run_scale_bench(args.scale_levels or DEFAULT_LEVELS, args.chunk_sizes or DEFAULT_CHUNK_SIZES, seconds,
                          3.0 if full else 2.0, out, echo=echo, kinds=kinds, argv=command, keep_work=args.keep_work,
                          streams_per_sender=args.streams_per_sender, catchup_s=args.backlog_s or DEFAULT_CATCHUP_S,
                          catchup_streams=DEFAULT_CATCHUP_STREAMS if args.catchup_streams is None
                          else args.catchup_streams)
    print(scale_markdown(res), end="")
    echo(f"wrote {out}/bench.json, bench.md and scale.png")
    return _exit_code(res, echo)


def run(argv: list[str] | None = None) -> int:
    """:func:`main` as the command line runs it (``python -m latency_bench``, ``bci-stream bench``): Ctrl-C and SIGTERM
    (``timeout``, a cancelled CI job) stop the run (:mod:`latency_bench.interrupt`), its ``finally`` blocks stopping its
    processes and removing its ``bci-bench-*`` work folder, and it exits 130 (Ctrl-C) or 143 (SIGTERM). Before, only
    ``python -m latency_bench`` handled SIGTERM: ``bci-stream bench`` died at once, leaving the folder and a service
    with its workers behind (audit s60bench F4)."""
    from latency_bench.interrupt import stop_on_signals

    try:
        with stop_on_signals():
            return main(argv)
    except KeyboardInterrupt:
        print("error: stopped by Ctrl-C (SIGINT)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(run())
