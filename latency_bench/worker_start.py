"""A decoder worker's start-up cost: CPU seconds from a new process to a worker's modules imported, started the way
the service starts its workers (:func:`bci_stream.service.spawn.worker_context`: from a fork server that holds the
third-party modules) beside plain ``spawn`` (a fresh interpreter that imports everything), in one run.

    python -m latency_bench.worker_start --starts 6

Prints the CPU seconds of each start and their medians. A benchmark: it measures, never asserts."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
from typing import Any


def _imports(queue: Any) -> None:
    """A worker's first work: the modules a dedicated and a shared worker import; then its CPU time so far."""
    import bci_stream.service.shared_worker  # noqa: F401
    import bci_stream.service.worker  # noqa: F401

    t = os.times()
    queue.put(t.user + t.system)


def measure(starts: int) -> dict[str, dict[str, list[float]]]:
    """``starts`` worker starts with each context: CPU seconds of each child and wall seconds to its report."""
    from bci_stream.service.spawn import worker_context

    out: dict[str, dict[str, list[float]]] = {}
    for name, ctx in (("spawn", mp.get_context("spawn")), ("service", worker_context())):
        queue, cpu, wall = ctx.Queue(), [], []
        for _ in range(starts + 1):  # the first start of a fork server also starts the server: not counted
            t0 = time.monotonic()
            proc = ctx.Process(target=_imports, args=(queue,))
            proc.start()
            cpu.append(queue.get(timeout=120))
            proc.join(30)
            wall.append(time.monotonic() - t0)
        out[name] = {"cpu_s": cpu[1:], "wall_s": wall[1:]}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m latency_bench.worker_start", description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, default=6, help="worker starts per context (default 6)")
    args = parser.parse_args(argv)
    if args.starts < 1:
        parser.error(f"--starts must be >= 1, got {args.starts}")
    result = measure(args.starts)
    for name, fig in result.items():
        label = "spawn (fresh interpreter)" if name == "spawn" else "service (worker_context)"
        print(f"{label:27s} cpu s {' '.join(f'{c:.2f}' for c in fig['cpu_s'])}  median cpu "
              f"{statistics.median(fig['cpu_s']):.2f} s, median wall {statistics.median(fig['wall_s']):.2f} s")
    ratio = statistics.median(result["service"]["cpu_s"]) / statistics.median(result["spawn"]["cpu_s"])
    print(f"service / spawn median cpu: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
