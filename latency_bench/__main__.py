"""``python -m latency_bench inference [--profile quick|full] [--out DIR]``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m latency_bench", description="bci-stream latency benchmarks.")
    sub = parser.add_subparsers(dest="bench", required=True, metavar="BENCH")
    inf = sub.add_parser("inference", help="per-sample compute: Decoder vs raw onnxruntime vs torch eager",
                         description="Per-step and chunked inference cost of GRU/LSTM decoders, side by side.")
    inf.add_argument("--profile", choices=["quick", "full"], default="quick",
                     help="quick (< 2 min on 2 cores) or full (more steps); default quick")
    inf.add_argument("--out", type=Path, default=None,
                     help="output directory (default latency_bench/results/<UTC timestamp>/)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a benchmark, write its report, print the markdown to stdout (progress to stderr)."""
    args = _parser().parse_args(argv)
    if args.bench == "inference":
        from latency_bench.inference import run_inference_bench

        out = args.out
        if out is None:
            out = RESULTS_DIR / dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        result = run_inference_bench(quick=args.profile == "quick", out_dir=out,
                                     echo=lambda line: print(line, file=sys.stderr, flush=True))
        from latency_bench.inference import format_markdown

        print(format_markdown(result), end="")
        print(f"wrote {out}/inference.json, inference.md, inference.png", file=sys.stderr)
        return 0
    return 2  # unreachable: argparse rejects unknown benchmarks


if __name__ == "__main__":
    sys.exit(main())
