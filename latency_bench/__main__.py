"""``python -m latency_bench {e2e,inference,scale,soak,grid,all} [--profile quick|full] [--out DIR] ...``.

Also: ``compare NEW.json OLD.json`` (ratios of the headline figures), ``readme RESULT.json`` (the table of
``latency_bench/README.md``), ``setup-timeflux`` (the timeflux peer's own virtualenv), ``slots`` (N streams of one
model: N ``StepModel.run`` calls vs one ``SlotTable.step_ready`` call, ``latency_bench/slots.py``).
``scale`` is its own report (``latency_bench/scale_bench.py``): ``--scale-levels 1,4,16,32,64 --chunk-sizes 1,10``,
relay vs slots vs process side by side, then the catch-up of a backlog per stream pushed at once
(``--backlog-s 30 --catchup-streams 1,4``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _chunks(text: str) -> list[int]:
    try:
        sizes = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--chunk-sizes must be comma-separated samples per push, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--chunk-sizes must be samples per push >= 1, got {text!r}")
    return sizes


def _catchup_streams(text: str) -> list[int]:
    """``--catchup-streams``: stream counts >= 1, or 0 for no catch-up rows."""
    try:
        counts = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--catchup-streams must be comma-separated stream counts, got {text!r}") from None
    if counts == [0]:
        return []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"--catchup-streams must be stream counts >= 1 (or 0: none), got {text!r}")
    return counts


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
             "scale": "1, 4, 16, 32, 64 concurrent 1 kHz × 64-ch streams pushed in chunks of 1 and 10 samples: "
                      "bare relay vs the service in shared workers (slots) vs one process per stream; loss, "
                      "p50/p99/max, CPU %%, RSS",
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
        p.add_argument("--paths", default=None, metavar="service,service_ray,relay",
                       help="e2e: which paths (default: the profile's; service_ray = the service with --backend ray)")
        p.add_argument("--scale-levels", type=_levels, default=None, metavar="1,2,4",
                       help="stream counts (scale: default 1,4,16,32,64)")
        p.add_argument("--chunk-sizes", type=_chunks, default=None, metavar="1,10",
                       help="scale: samples per push of the senders (default 1,10)")
        p.add_argument("--kinds", default=None, metavar="relay,slots,process",
                       help="scale: which paths (default relay,slots,process)")
        p.add_argument("--streams-per-sender", type=int, default=None, metavar="N",
                       help="scale: streams per player process and per consumer process (default: 8 for 1-sample chunks, 16 for 2 or more)")
        p.add_argument("--backlog-s", type=_positive, default=None,
                       help="catch-up backlog, seconds (default 10; scale: 30 per stream)")
        p.add_argument("--catchup-streams", type=_catchup_streams, default=None, metavar="1,4",
                       help="scale: streams whose backlogs are pushed at once, per catch-up row (default 1,4; 0: none)")
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
    slots = sub.add_parser("slots", help="N streams per wake-up: N StepModel.run calls vs one SlotTable call",
                           description="Per stream-sample cost of N = 1, 4, 16, 64 streams of one model, chunk 1 "
                                       "and 10: N separate StepModel.run calls vs one SlotTable.step_ready call.")
    slots.add_argument("--profile", choices=["quick", "full"], default="quick", help="default quick")
    slots.add_argument("--out", type=Path, default=None, help="output folder (default latency_bench/results/<time>/)")
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
    from latency_bench.report import format_markdown
    from latency_bench.suite import make_profile, run_bench

    profile = make_profile(args.profile, seconds=args.seconds, rounds=args.rounds, scale_levels=args.scale_levels,
                           backlog_s=args.backlog_s, grid_steps=args.grid_steps, inference_steps=args.inference_steps,
                           paths=args.paths.split(",") if args.paths else None)
    out = _out_dir(args.out)
    command = ["python -m latency_bench", *(argv if argv is not None else sys.argv[1:])]
    result = run_bench(args.bench, profile, out, echo=echo, minutes=args.minutes, timeflux_python=args.timeflux_python,
                       lookahead_report=args.lookahead_report, argv=command, keep_work=args.keep_work)
    print(format_markdown(result), end="")
    echo(f"wrote {out}/bench.json, bench.md and plots")
    if args.compare is not None:
        _print_compare(result, args.compare)
    return 0


def _scale(args: argparse.Namespace, argv: list[str] | None, echo: Callable[[str], Any]) -> int:
    from latency_bench.scale import DEFAULT_CHUNK_SIZES, DEFAULT_LEVELS, KINDS
    from latency_bench.scale_bench import (DEFAULT_CATCHUP_S, DEFAULT_CATCHUP_STREAMS,
                                           format_markdown as scale_markdown, run_scale_bench)

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else list(KINDS)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        print(f"--kinds must be among {','.join(KINDS)}, got {args.kinds!r}", file=sys.stderr)
        return 2
    if args.streams_per_sender is not None and args.streams_per_sender < 1:
        print(f"--streams-per-sender must be >= 1, got {args.streams_per_sender}", file=sys.stderr)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
