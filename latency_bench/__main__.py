"""``python -m latency_bench {e2e,inference,scale,soak,grid,all} [--profile quick|full] [--out DIR] ...``.

Also: ``compare NEW.json OLD.json`` (ratios of the headline figures), ``readme RESULT.json`` (the table of
``latency_bench/README.md``), ``setup-timeflux`` (the timeflux peer's own virtualenv).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent / "README.md"
RUNS = ("e2e", "scale", "soak", "grid", "all")


def _levels(text: str) -> list[int]:
    try:
        levels = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--scale-levels must be comma-separated stream counts, got {text!r}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"--scale-levels must be stream counts >= 1, got {text!r}")
    return levels


def _positive(text: str) -> float:
    v = float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m latency_bench", description="bci-stream latency benchmarks.")
    sub = parser.add_subparsers(dest="bench", required=True, metavar="BENCH")
    inf = sub.add_parser("inference", help="per-sample compute: StepModel vs raw onnxruntime vs torch eager",
                         description="Per-step and chunked inference cost of GRU/LSTM step graphs, side by side, "
                                     "and of every step graph (any family) in a model registry.")
    inf.add_argument("--profile", choices=["quick", "full"], default="quick",
                     help="quick (< 2 min on 2 cores) or full (more steps); default quick")
    inf.add_argument("--out", type=Path, default=None,
                     help="output directory (default latency_bench/results/<UTC timestamp>/)")
    inf.add_argument("--models-dir", type=Path, default=None,
                     help="model registry whose step graphs (any family) also get a row (default: the service's "
                          "models folder)")
    inf.add_argument("--no-models", action="store_true", help="no registry rows")
    helps = {"e2e": "end to end at 1 kHz and 160 Hz beside the relay floor and the peers; catch-up",
             "scale": "1, 2, 4, 8, 16 concurrent 1 kHz × 64-ch streams: loss, p99, CPU%",
             "soak": "N minutes of decoding: RSS and latency percentiles over time",
             "grid": "step cost over channels × hidden size",
             "all": "every section but soak (quick: < 3 minutes on 2 cores)"}
    for name in RUNS:
        p = sub.add_parser(name, help=helps[name], description=helps[name])
        p.add_argument("--profile", choices=["quick", "full"], default="quick", help="default quick")
        p.add_argument("--out", type=Path, default=None, help="output folder (default latency_bench/results/<time>/)")
        p.add_argument("--compare", type=Path, default=None, metavar="OLD.json",
                       help="print the ratios of this run's headline figures to those of OLD.json")
        p.add_argument("--minutes", type=_positive, default=None, help="soak duration (default 1)")
        p.add_argument("--seconds", type=_positive, default=None, help="measured seconds per phase / level")
        p.add_argument("--rounds", type=int, default=None, help="e2e rounds (rotating path order)")
        p.add_argument("--scale-levels", type=_levels, default=None, metavar="1,2,4", help="stream counts")
        p.add_argument("--backlog-s", type=_positive, default=None, help="catch-up backlog, seconds (default 10)")
        p.add_argument("--grid-steps", type=int, default=None, help="timed steps per grid point")
        p.add_argument("--inference-steps", type=int, default=None, help="timed steps per inference variant")
        p.add_argument("--timeflux-python", default=None, help="interpreter with timeflux (default .venv-timeflux)")
        p.add_argument("--lookahead-report", type=Path, default=None, help="the trainer's report.json")
        p.add_argument("--keep-work", action="store_true", help="keep the temporary folder (logs, recordings)")
    cmp_ = sub.add_parser("compare", help="ratios of two results' headline figures")
    cmp_.add_argument("new", type=Path)
    cmp_.add_argument("old", type=Path)
    rd = sub.add_parser("readme", help="write the result's table into latency_bench/README.md")
    rd.add_argument("result", type=Path)
    cpu = sub.add_parser("cpu-profile", help="where the CPU of one 1 kHz stream goes (per thread; perf if present)",
                         description="Per-thread CPU of every process on one 1 kHz × 64-ch path, and a perf "
                                     "breakdown of the worker's main thread.")
    cpu.add_argument("--seconds", type=_positive, default=10.0, help="measured seconds (default 10)")
    cpu.add_argument("--no-perf", action="store_true", help="skip the perf breakdown")
    cpu.add_argument("--out", type=Path, default=None, help="output folder (default latency_bench/results/<time>/)")
    sub.add_parser("setup-timeflux", help="create .venv-timeflux (timeflux 0.17.2 + pylsl 1.16.2) for the peer")
    return parser


def _out_dir(out: Path | None) -> Path:
    return out or RESULTS_DIR / dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _print_compare(new: dict, old_path: Path) -> None:
    from latency_bench.compare import compare, format_compare, load

    old = load(old_path)
    print(f"\nCompared with {old_path} ({old.get('created')}):\n", file=sys.stderr)
    print(format_compare(compare(new, old), str(old.get("created")), str(new.get("created"))), end="")


def main(argv: list[str] | None = None) -> int:
    """Run a benchmark, write its report, print the markdown to stdout (progress to stderr)."""
    args = _parser().parse_args(argv)

    def echo(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.bench == "inference":
        from bci_stream.core.settings import default_models_dir
        from latency_bench.inference import format_markdown, run_inference_bench

        out = _out_dir(args.out)
        models_dir = None if args.no_models else (args.models_dir or default_models_dir())
        result = run_inference_bench(quick=args.profile == "quick", out_dir=out, echo=echo, models_dir=models_dir)
        print(format_markdown(result), end="")
        print(f"wrote {out}/inference.json, inference.md, inference.png", file=sys.stderr)
        return 0
    if args.bench == "compare":
        from latency_bench.compare import compare, format_compare, load

        new, old = load(args.new), load(args.old)
        print(format_compare(compare(new, old), str(old.get("created")), str(new.get("created"))), end="")
        return 0
    if args.bench == "readme":
        from latency_bench.compare import load
        from latency_bench.report import update_readme

        update_readme(load(args.result), README)
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
    if args.bench == "setup-timeflux":
        from latency_bench.peers import setup_timeflux

        return setup_timeflux()
    from latency_bench.report import format_markdown
    from latency_bench.suite import make_profile, run_bench

    profile = make_profile(args.profile, seconds=args.seconds, rounds=args.rounds, scale_levels=args.scale_levels,
                           backlog_s=args.backlog_s, grid_steps=args.grid_steps, inference_steps=args.inference_steps)
    out = _out_dir(args.out)
    command = ["python -m latency_bench", *(argv if argv is not None else sys.argv[1:])]
    result = run_bench(args.bench, profile, out, echo=echo, minutes=args.minutes, timeflux_python=args.timeflux_python,
                       lookahead_report=args.lookahead_report, argv=command, keep_work=args.keep_work)
    print(format_markdown(result), end="")
    echo(f"wrote {out}/bench.json, bench.md and plots")
    if args.compare is not None:
        _print_compare(result, args.compare)
    return 0


if __name__ == "__main__":
    sys.exit(main())
