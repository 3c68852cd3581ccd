"""Scaling: N concurrent streams through one service (one worker process each), N = 1, 2, 4, 8, 16.

Streams are added level by level (the streams of a level keep running into the next one). Per level,
after a warm-up, a window of ``seconds`` is measured: loss and latency per stream (consumer-side, from
push to arrival), the CPU% of every worker, of the API process, of the player and of the consumer, and
how busy the whole machine was. One player process feeds every stream and one consumer process (one
reader thread per stream) reads every decoded stream; their CPU is reported apart from the service's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pylsl

from latency_bench import stats
from latency_bench.e2e import CONNECT_TIMEOUT_S, Harness, StartedPath, _service_view, start_path
from latency_bench.models import BenchModel
from latency_bench.procs import CpuMeter

GOAL_STREAMS = 16
GOAL_P99_MS = 5.0


def run_scale(h: Harness, model: BenchModel, levels: Sequence[int], seconds: float, warmup: float,
              kind: str = "service") -> dict[str, Any]:
    """Measure every level in ``levels`` (ascending stream counts) on ``model``; returns the section.

    ``kind`` is ``service`` (one decoder per stream) or ``relay`` (one bare relay process per stream: the
    transport floor of the same load).
    """
    levels = sorted(set(int(n) for n in levels))
    if not levels or levels[0] < 1:
        raise ValueError(f"levels must be stream counts >= 1, got {levels}")
    if kind not in ("service", "relay"):
        raise ValueError(f"kind must be service or relay, got {kind!r}")
    streams: list[tuple[str, StartedPath]] = []
    windows: list[dict[str, Any]] = []
    capacity = len(levels) * (warmup + seconds + 30) + 60
    api = {"api": h.service.pid} if kind == "service" else {}
    try:
        for n in levels:
            h.echo(f"scale ({kind}): {n} stream(s), {seconds:g} s")
            t_setup = time.monotonic()
            while len(streams) < n:
                name = h.unique(f"bench-scale-{kind}")
                h.add_stream(name, model, None, capacity_s=capacity)
                path = start_path(h, kind, name, model)
                streams.append((name, path))
                h.consumer.request({"cmd": "add", "name": path.out_name, "capacity_s": capacity,
                                    "timeout": CONNECT_TIMEOUT_S}, "added", CONNECT_TIMEOUT_S + 5)
            setup_s = time.monotonic() - t_setup
            time.sleep(warmup)
            before = {name: path.status() for name, path in streams}
            pids = {f"worker{i}": next(iter(path.pids.values())) for i, (_, path) in enumerate(streams)}
            meter = CpuMeter({**pids, **api, "player": h.player.pid, "consumer": h.consumer.pid}).start()
            ta = pylsl.local_clock()
            time.sleep(seconds)
            tb = pylsl.local_clock()
            cpu = meter.stop()
            after = {name: path.status() for name, path in streams}
            windows.append({"n": n, "window": (ta, tb), "streams": [(nm, p.out_name) for nm, p in streams],
                            "cpu": cpu, "setup_s": setup_s, "counters": _counter_deltas(before, after),
                            "service": [_service_view(st) for st in after.values()] if kind == "service" else None})
        h.drain([path.out_name for _, path in streams], windows[-1]["window"][1])
        pushed = {name: h.dump_pushed(name) for name, _ in streams}
        received = {name: h.dump_received(path.out_name) for name, path in streams}
    finally:
        for name, path in streams:
            try:
                path.stop()
            finally:
                h.player.request({"cmd": "remove", "name": name}, "removed")
    rows = [_level(w, pushed, received) for w in windows]
    return {"kind": kind, "model": model.ref, "architecture": model.architecture, "n_chans": model.n_chans,
            "sfreq": model.sfreq, "seconds_per_level": seconds, "warmup_s": warmup, "levels": rows,
            "goal": _goal(rows)}


def _counter_deltas(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int] | None:
    if any(v is None for v in (*before.values(), *after.values())):
        return None
    out: dict[str, int] = {}
    for key in ("samples_in", "samples_out", "samples_lost", "gaps", "deadline_misses"):
        out[key] = int(sum((after[d]["counters"].get(key) or 0) - (before[d]["counters"].get(key) or 0)
                           for d in after))
    return out


def _level(w: dict[str, Any], pushed: dict[str, np.ndarray], received: dict[str, np.ndarray]) -> dict[str, Any]:
    lats, per_stream = [], []
    n_pushed = lost = 0
    for name, _ in w["streams"]:
        m = stats.match(pushed[name], received[name], w["window"])
        lats.append(m["latency_ms"])
        n_pushed += m["n_pushed"]
        lost += m["lost"]
        p99 = float(np.percentile(m["latency_ms"], 99)) if len(m["latency_ms"]) else None
        per_stream.append({"stream": name, "n_pushed": m["n_pushed"], "lost": m["lost"], "p99_ms": p99})
    lat = np.concatenate(lats) if lats else np.empty(0)
    pct = w["cpu"]["percent"]
    workers = [v for k, v in pct.items() if k.startswith("worker") and v is not None]
    workers_sys = [v for k, v in w["cpu"]["system_percent"].items() if k.startswith("worker") and v is not None]
    p99s = [s["p99_ms"] for s in per_stream if s["p99_ms"] is not None]
    return {
        "n_streams": w["n"], "setup_s": round(w["setup_s"], 2), "window_s": w["window"][1] - w["window"][0],
        "n_pushed": n_pushed, "lost": lost, "loss_fraction": lost / n_pushed if n_pushed else None,
        "latency_ms": stats.summarise(lat), "worst_stream_p99_ms": max(p99s) if p99s else None,
        "cpu_percent": {"workers_total": float(sum(workers)), "workers_system": float(sum(workers_sys)),
                        "per_worker_mean": float(np.mean(workers)) if workers else None, "api": pct.get("api"),
                        "player": pct.get("player"), "consumer": pct.get("consumer")},
        "machine_busy_percent": w["cpu"].get("machine_busy_percent"),
        "service_counters": w["counters"], "per_stream": per_stream,
    }


def _goal(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r["n_streams"] for r in rows if r["lost"] == 0 and (r["latency_ms"]["p99"] or 1e9) <= GOAL_P99_MS]
    best = max(ok) if ok else 0
    return {"criterion": f">= {GOAL_STREAMS} concurrent streams with 0 loss and p99 <= {GOAL_P99_MS:g} ms",
            "max_streams_ok": best, "max_measured": max(r["n_streams"] for r in rows) if rows else 0,
            "met": best >= GOAL_STREAMS}
