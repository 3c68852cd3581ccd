"""Catch-up: how fast a path works off a backlog pushed at once, and the compute bound of it.

:func:`run_catchup`: the player holds a fresh stream until the path and the consumer are connected, then pushes a
backlog of ``backlog_s`` seconds at once and goes live; throughput = backlog samples / (arrival of the last backlog
output - push). :func:`compute_catchup`: the same backlog through ``StepModel.run`` in the benchmark's process.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pylsl

from latency_bench import stats
from latency_bench.e2e_harness import CONNECT_TIMEOUT_S, Harness
from latency_bench.e2e_paths import StartedPath, _end_phase, _service_view, start_path
from latency_bench.models import BenchModel
from latency_bench.procs import CpuMeter


def run_catchup(h: Harness, kind: str, model: BenchModel, backlog_s: float, live_s: float = 1.0) -> dict[str, Any]:
    """Push ``backlog_s`` seconds of samples at once into a connected path; how fast do they come out?"""
    name = h.unique(f"bench-catchup-{kind}")
    backlog = int(round(backlog_s * model.sfreq))
    h.add_stream(name, model, None, hold=True, capacity_s=backlog_s + live_s + 30)
    path: StartedPath | None = None
    try:
        path = start_path(h, kind, name, model, {"stall_timeout_s": 60.0} if kind == "service" else None)
        h.consumer.request({"cmd": "add", "name": path.out_name, "capacity_s": backlog_s + live_s + 30,
                            "timeout": CONNECT_TIMEOUT_S}, "added", CONNECT_TIMEOUT_S + 5)
        time.sleep(0.3)
        meter = CpuMeter(path.pids).start()
        t_push = float(h.player.request({"cmd": "release", "name": name, "backlog": backlog}, "released")["t"])
        time.sleep(max(live_s, 0.5) + min(backlog_s, 10.0) * 0.2)
        cpu = meter.stop()
        h.drain([path.out_name], pylsl.local_clock() - 0.1)
        rec = h.dump_received(path.out_name)
        service = _service_view(path.status())
        pushed = h.dump_pushed(name)
    finally:
        _end_phase(h, path, name)
    back = stats.match(pushed[:backlog], rec, (pushed[0], pushed[backlog - 1]))
    got = rec[np.isin(rec[:, 0], pushed[:backlog])]
    t_last = float(got[:, 1].max()) if len(got) else None
    live = stats.match(pushed, rec, (t_push + 0.5 / model.sfreq, float(pushed[-1])))
    elapsed = None if t_last is None else t_last - t_push
    return {
        "kind": kind, "backlog_samples": backlog, "received": back["n_received"], "lost": back["lost"],
        "catchup_s": elapsed, "samples_per_s": (backlog / elapsed) if elapsed else None,
        "live_after_latency_ms": stats.summarise(live["latency_ms"]) | {"cdf_ms": None},
        "cpu_percent": cpu["percent"], "service": service,
    }


def compute_catchup(model: BenchModel, models_dir: Path, backlog_s: float, repeats: int = 3,
                    chunk_sizes: Sequence[int] = (32, 128, 256, 1024)) -> dict[str, Any]:
    """The same backlog through ``StepModel.run`` in this process: the compute bound of catch-up.

    Once in one call (what the worker does with a backlog it pulls at once; the engine runs it in blocks
    of at most ``max_block`` samples), and in sub-chunks of ``chunk_sizes`` samples (the same result: the
    state is carried), best of ``repeats``, each repeat from a fresh stream state; and ``cold``: the first
    backlog a freshly loaded and warmed-up model sees (in one call, and in sub-chunks of 128), as in a
    worker that just started.
    """
    from bci_stream.engine.step_model import StepModel
    from bci_stream.core.registry import ModelRegistry

    entry = ModelRegistry(models_dir).get(model.ref)
    n = int(round(backlog_s * model.sfreq))
    x = (10.0 * np.random.default_rng(0).standard_normal((n, model.n_chans))).astype(np.float32)
    sizes = (n, *[c for c in chunk_sizes if c < n])
    cold: dict[str, float] = {}
    for t in (n, 128):  # the first backlog a fresh model (warmed up as the worker does it) ever sees
        fresh = StepModel(entry.onnx_path, entry.card)
        fresh.warm_up()
        state = fresh.new_state()
        t0 = time.perf_counter()
        for i in range(0, n, t):
            fresh.run(x[i : i + t], state)
        cold[str(t)] = n / (time.perf_counter() - t0)
    step_model = StepModel(entry.onnx_path, entry.card)
    step_model.warm_up()
    best = dict.fromkeys(sizes, np.inf)
    for _ in range(repeats):  # interleaved, so machine drift hits every chunk size alike
        for t in sizes:
            state = step_model.new_state()
            t0 = time.perf_counter()
            for i in range(0, n, t):
                step_model.run(x[i : i + t], state)
            best[t] = min(best[t], time.perf_counter() - t0)
    by_chunk = {str(t): n / best[t] for t in sizes}
    whole = by_chunk[str(n)]
    return {"backlog_samples": n, "seconds": n / whole, "samples_per_s": whole, "samples_per_s_by_chunk": by_chunk,
            "cold_samples_per_s_by_chunk": cold, "repeats": repeats, "max_block": entry.card.step.max_block,
            "what": "StepModel.run (step graph: preprocessing + network) over the backlog in one call (as the "
                    "worker does) and in sub-chunks, state carried, best of repeats, in the benchmark's process"}
