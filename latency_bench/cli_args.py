"""The command line of ``python -m latency_bench``: one option set per sub-command.

Each sub-command takes only the options it reads (:data:`RUN_OPTIONS`), so a flag it would ignore is refused
(exit 2) with a message naming the flag, the sub-command and the options it does take.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from latency_bench import GRU_SFREQ

RUNS = ("e2e", "scale", "soak", "grid", "all")

# Which options each RUNS sub-command reads (``--profile`` and ``--out`` are common to all of them).
RUN_OPTIONS: dict[str, tuple[str, ...]] = {
    "e2e": ("--compare", "--seconds", "--rounds", "--paths", "--backlog-s", "--timeflux-python", "--keep-work"),
    "scale": ("--seconds", "--scale-levels", "--chunk-sizes", "--kinds", "--streams-per-sender", "--backlog-s",
              "--catchup-streams", "--keep-work"),
    "soak": ("--compare", "--minutes", "--keep-work"),
    "grid": ("--compare", "--grid-steps"),
    "all": ("--compare", "--seconds", "--rounds", "--paths", "--scale-levels", "--backlog-s", "--grid-steps",
            "--inference-steps", "--timeflux-python", "--lookahead-report", "--keep-work"),
}
INFERENCE_OPTIONS = ("--inference-steps", "--models-dir", "--no-models")


def _int_list(flag: str, what: str, text: str, *, allow_zero: bool = False) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{flag} must be comma-separated {what}, got {text!r}") from None
    if allow_zero and values == [0]:
        return []
    if not values or min(values) < 1:
        extra = " (or 0: none)" if allow_zero else ""
        raise argparse.ArgumentTypeError(f"{flag} must be {what} >= 1{extra}, got {text!r}")
    return values


def _levels(text: str) -> list[int]:
    return _int_list("--scale-levels", "stream counts", text)


def _chunks(text: str) -> list[int]:
    return _int_list("--chunk-sizes", "samples per push", text)


def _catchup_streams(text: str) -> list[int]:
    """``--catchup-streams``: stream counts >= 1, or 0 for no catch-up rows."""
    return _int_list("--catchup-streams", "stream counts", text, allow_zero=True)


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not (v > 0 and math.isfinite(v)):  # inf would pass > 0, then fail deep inside a section
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return v


def _interpreter(text: str) -> str:
    """``--timeflux-python``: an interpreter that is there (a missing one fell through to the defaults unsaid)."""
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"no interpreter at {text!r} (give the python of a venv with timeflux)")
    return text


def _paths(text: str) -> str:
    """``--paths``: comma-separated e2e path names (:data:`latency_bench.peers.PATH_DESCRIPTIONS`), refused here
    rather than after the catch-up phase has run."""
    from latency_bench.peers import PATH_DESCRIPTIONS

    names = [p.strip() for p in text.split(",")]
    bad = [p for p in names if p not in PATH_DESCRIPTIONS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"must name paths among {', '.join(PATH_DESCRIPTIONS)}, got {bad or text!r}")
    return ",".join(names)


def _backlog(text: str) -> float:
    """``--backlog-s``: seconds > 0 holding at least one sample of the benchmark's streams (before: 0.0001 ran the
    sections before catch-up, then crashed it on an empty backlog)."""
    v = _positive(text)
    if v * GRU_SFREQ < 1:
        raise argparse.ArgumentTypeError(f"must hold at least one sample of the benchmark's {GRU_SFREQ:g} Hz streams "
                                         f"(>= {1 / GRU_SFREQ:g} s), got {text}")
    return v


def _positive_int(text: str) -> int:
    """A count: an integer >= 1 (argparse prefixes the flag's name to the message)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {v}")
    return v


def _run_option_adders() -> dict[str, Callable[[argparse.ArgumentParser], Any]]:
    """``flag -> function adding it to a parser`` for the options of :data:`RUN_OPTIONS`."""
    def opt(*args: Any, **kwargs: Any) -> Callable[[argparse.ArgumentParser], Any]:
        return lambda p: p.add_argument(*args, **kwargs)

    return {
        "--compare": opt("--compare", type=Path, default=None, metavar="OLD.json",
                         help="print the ratios of this run's headline figures to those of OLD.json"),
        "--minutes": opt("--minutes", type=_positive, default=None, help="soak duration (default 1)"),
        "--seconds": opt("--seconds", type=_positive, default=None, help="measured seconds per phase / level"),
        "--rounds": opt("--rounds", type=_positive_int, default=None, help="e2e rounds (rotating path order)"),
        "--paths": opt("--paths", type=_paths, default=None, metavar="service,service_ray,relay",
                       help="e2e: which paths (default: the profile's; service_ray = the service with --backend "
                            "ray)"),
        "--scale-levels": opt("--scale-levels", type=_levels, default=None, metavar="1,2,4",
                              help="stream counts (scale: default 1,4,16,32,64)"),
        "--chunk-sizes": opt("--chunk-sizes", type=_chunks, default=None, metavar="1,10",
                             help="samples per push of the senders (default 1,10)"),
        "--kinds": opt("--kinds", default=None, metavar="relay,slots,process",
                       help="which paths (default relay,slots,process)"),
        "--streams-per-sender": opt("--streams-per-sender", type=_positive_int, default=None, metavar="N",
                                    help="streams per player process and per consumer process (default: 8 for "
                                         "1-sample chunks, 16 for 2 or more)"),
        "--backlog-s": opt("--backlog-s", type=_backlog, default=None,
                           help="catch-up backlog, seconds (default 10; scale: 30 per stream)"),
        "--catchup-streams": opt("--catchup-streams", type=_catchup_streams, default=None, metavar="1,4",
                                 help="streams whose backlogs are pushed at once, per catch-up row (default 1,4; "
                                      "0: none)"),
        "--grid-steps": opt("--grid-steps", type=_positive_int, default=None, help="timed steps per grid point"),
        "--inference-steps": opt("--inference-steps", type=_positive_int, default=None,
                                 help="timed steps per inference variant"),
        "--timeflux-python": opt("--timeflux-python", type=_interpreter, default=None,
                                 help="interpreter with timeflux (default .venv-timeflux)"),
        "--lookahead-report": opt("--lookahead-report", type=Path, default=None, help="the trainer's report.json"),
        "--keep-work": opt("--keep-work", action="store_true",
                           help="keep the temporary folder (logs, recordings)"),
    }


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=["quick", "full"], default="quick", help="default quick")
    p.add_argument("--out", type=Path, default=None, help="output folder (default latency_bench/results/<time>/)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m latency_bench", description="bci-stream latency benchmarks.")
    sub = parser.add_subparsers(dest="bench", required=True, metavar="BENCH")
    inf = sub.add_parser("inference", help="per-sample compute: StepModel vs raw onnxruntime vs torch eager",
                         description="Per-step and chunked inference cost of GRU/LSTM step graphs, side by side, "
                                     "and of every step graph (any family) in a model registry.")
    inf.add_argument("--profile", choices=["quick", "full"], default="quick",
                     help="quick (< 2 min on 2 cores) or full (more steps); default quick")
    inf.add_argument("--out", type=Path, default=None,
                     help="output directory (default latency_bench/results/<UTC timestamp>/)")
    _run_option_adders()["--inference-steps"](inf)
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
             "all": "every section but soak (quick: < 3 minutes on 2 cores); its scale section is the older "
                    "single-kind form"}
    adders = _run_option_adders()
    for name in RUNS:
        p = sub.add_parser(name, help=helps[name], description=helps[name])
        _common(p)
        for flag in RUN_OPTIONS[name]:
            adders[flag](p)
    cmp_ = sub.add_parser("compare", help="ratios of two results' headline figures (bench.json of e2e, soak, "
                                          "grid or all)")
    cmp_.add_argument("new", type=Path)
    cmp_.add_argument("old", type=Path)
    rd = sub.add_parser("readme", help="write the result's table into latency_bench/README.md")
    rd.add_argument("result", type=Path)
    rd.add_argument("--force", action="store_true", help="write the table from a result that is not of the full "
                                                          "profile (refused without it; the table then names its "
                                                          "profile)")
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
    _common(slots)
    return parser


def options_of(parser: argparse.ArgumentParser, bench: str) -> list[str]:
    """The long options sub-command ``bench`` takes."""
    sub = _subparser(parser, bench)
    return [s for a in sub._actions for s in a.option_strings if s.startswith("--") and s != "--help"]


def _subparser(parser: argparse.ArgumentParser, bench: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[bench]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv``; an option the chosen sub-command does not take exits 2 naming it and the sub-command."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        flags = [t.split("=", 1)[0] for t in extra if t.startswith("-")]
        what = ", ".join(flags) if flags else " ".join(extra)
        takes = ", ".join(options_of(parser, args.bench)) or "no options"
        _subparser(parser, args.bench).error(
            f"`{args.bench}` does not take {what} (unrecognized: {' '.join(extra)}); it takes: {takes}")
    return args
