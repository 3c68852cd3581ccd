"""Catch-up in ``bench scale`` (issue 16): a backlog of ``backlog_s`` seconds per stream, pushed at once.

For a service kind (``slots``: shared workers; ``process``: one worker process per stream) and a number of
streams, every stream's player holds its stream until the path and the consumer are connected, then pushes
``backlog_s`` seconds of 1 kHz samples at once (stamped as recorded over the past ``backlog_s`` seconds) and
goes live. Throughput end to end = backlog samples received / (arrival of the last backlog output − first
push), over all streams together and per stream. Issue 16's target: >= 100,000 samples/s.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from latency_bench.e2e import CONNECT_TIMEOUT_S, Harness, start_path
from latency_bench.models import BenchModel
from latency_bench.procs import CpuMeter, rss_bytes
from latency_bench.scale import _path_processes
from latency_bench.scale_load import (LoadGenerator, Stream, check_memory, dump_received, stop_stray_decoder,
                                      stop_streams, wait_delivered, worker_options)

TARGET_SAMPLES_PER_S = 100_000.0
MIN_RATE_FOR_TIMEOUT = 5_000.0
"""The wait for a backlog gives up after 60 s plus the time this rate (samples/s) would take: slower is reported."""


def run_catchup_rows(h: Harness, load: LoadGenerator, model: BenchModel, kind: str, backlog_s: float,
                     stream_counts: Sequence[int], has_worker_option: bool = True) -> list[dict[str, Any]]:
    """One catch-up row per stream count in ``stream_counts`` for service ``kind`` (``slots`` | ``process``)."""
    if kind not in ("slots", "process"):
        raise ValueError(f"catch-up kind must be slots or process, got {kind!r}")
    if backlog_s <= 0:
        raise ValueError(f"backlog_s must be > 0 s, got {backlog_s}")
    return [catchup_row(h, load, model, kind, backlog_s, n, has_worker_option) for n in sorted(set(stream_counts))]


def catchup_row(h: Harness, load: LoadGenerator, model: BenchModel, kind: str, backlog_s: float, n: int,
                has_worker_option: bool = True) -> dict[str, Any]:
    """``n`` streams of ``kind``, each with a backlog of ``backlog_s`` seconds pushed at once (see the module)."""
    if n < 1:
        raise ValueError(f"catch-up stream count must be >= 1, got {n}")
    h.echo(f"scale: catch-up, {kind}, {n} stream(s) x {backlog_s:g} s backlog")
    backlog = int(round(backlog_s * model.sfreq))
    capacity = backlog_s + 60.0
    # the inlet holds the whole backlog; no stall is reported while the player holds the stream back
    options = {**worker_options(kind, has_worker_option), "max_buffer_s": min(600.0, 2 * backlog_s + 30.0),
               "stall_timeout_s": 600.0}
    streams: list[Stream] = []
    # live after the backlog: one sample per push, stamped on the 1 kHz schedule (a push time as stamp would jitter
    # on a busy machine, and the service would count the jitter as gaps)
    per = load.per_process(1, model.sfreq)
    try:
        for i in range(n):
            check_memory(kind)
            player, consumer = load.pair(i, per)
            s = Stream(h.unique(f"catchup-{kind}"), player, consumer)
            spec = {"name": s.name, "n_chans": model.n_chans, "sfreq": model.sfreq, "ch_names": model.ch_names,
                    "seed": 2, "capacity_s": capacity, "hold": True, "chunk_size": 1}
            player.request({"cmd": "add", "stream": spec}, "added")
            streams.append(s)
            try:
                s.path = start_path(h, "service", s.name, model, options)
            except Exception:
                stop_stray_decoder(h, s)
                raise
            consumer.request({"cmd": "add", "name": s.path.out_name, "capacity_s": capacity,
                              "timeout": CONNECT_TIMEOUT_S}, "added", CONNECT_TIMEOUT_S + 5)
        time.sleep(0.5)
        before = {s.name: s.path.status() for s in streams if s.path}
        procs = _path_processes(h, kind, streams, before)
        meter = CpuMeter({**procs, **load.pids(n, per)}).start()
        t_push = {s.name: float(s.player.request({"cmd": "release", "name": s.name, "backlog": backlog},
                                                 "released")["t"]) for s in streams}
        timeout = 60.0 + n * backlog / MIN_RATE_FOR_TIMEOUT
        complete = wait_delivered(streams, max(t_push.values()), timeout)
        cpu = meter.stop()
        rss = {k: rss_bytes(pid) for k, pid in procs.items()}
        after = settled_status(streams, backlog)
        per_stream = []
        for s in streams:
            path = h.rec_dir / f"{s.name}.pushed.npy"
            s.player.request({"cmd": "dump", "name": s.name, "path": str(path), "push_times": True}, "dumped")
            assert s.path is not None
            received = dump_received(h, s.consumer, s.path.out_name)
            per_stream.append(stream_catchup(s.name, np.load(path)[:backlog], received))
    finally:
        stop_streams(streams)
    return summarise_catchup(kind, n, backlog_s, backlog, per_stream, cpu, rss, complete, after)


def settled_status(streams: list[Stream], backlog: int, timeout: float = 10.0) -> dict[str, Any]:
    """Each stream's status once it counts its whole backlog out (status snapshots arrive every status interval,
    later on a busy machine), at most ``timeout`` seconds; the latest status otherwise."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    for s in streams:
        assert s.path is not None
        while True:
            st = s.path.status()
            if ((st or {}).get("counters") or {}).get("samples_out", 0) >= backlog or time.monotonic() > deadline:
                status[s.name] = st
                break
            time.sleep(0.1)
    return status


def stream_catchup(name: str, pushed: np.ndarray, rec: np.ndarray) -> dict[str, Any]:
    """One stream's backlog (``pushed``: ``[backlog, 2]`` rows of stamp and push time) against what arrived
    (``rec``: rows of stamp and arrival time): received, lost, and the arrival of its last backlog output."""
    stamps = pushed[:, 0]
    got = rec[np.isin(rec[:, 0], stamps)] if len(rec) else np.empty((0, 2))
    received = int(len(np.unique(got[:, 0])))
    t_push = float(pushed[:, 1].min()) if len(pushed) else None
    t_last = float(got[:, 1].max()) if len(got) else None
    elapsed = None if t_last is None or t_push is None else t_last - t_push
    return {"stream": name, "backlog_samples": int(len(stamps)), "received": received,
            "lost": int(len(stamps)) - received, "t_push": t_push, "t_last": t_last, "catchup_s": elapsed,
            "samples_per_s": received / elapsed if elapsed else None}


def summarise_catchup(kind: str, n: int, backlog_s: float, backlog: int, per_stream: list[dict[str, Any]],
                      cpu: dict[str, Any], rss: dict[str, int | None], complete: bool,
                      status: dict[str, Any]) -> dict[str, Any]:
    """The row: every stream's backlog together, from the first push to the last backlog output's arrival."""
    received = sum(p["received"] for p in per_stream)
    pushes = [p["t_push"] for p in per_stream if p["t_push"] is not None]
    lasts = [p["t_last"] for p in per_stream if p["t_last"] is not None]
    elapsed = max(lasts) - min(pushes) if lasts and pushes else None
    rate = received / elapsed if elapsed else None
    pct = cpu["percent"]
    service = {k: pct.get(k) for k in rss}
    rates = [p["samples_per_s"] for p in per_stream if p["samples_per_s"]]
    counters = {key: int(sum((st or {}).get("counters", {}).get(key) or 0 for st in status.values()))
                for key in ("samples_in", "samples_out", "samples_lost")}
    return {
        "kind": kind, "n_streams": n, "backlog_s": backlog_s, "backlog_samples_per_stream": backlog,
        "n_pushed": n * backlog, "received": received, "lost": n * backlog - received, "complete": complete,
        "catchup_s": elapsed, "samples_per_s": rate, "per_stream_samples_per_s_min": min(rates) if rates else None,
        "cpu_percent": {"per_process": {**service, **{k: v for k, v in pct.items() if k not in service}},
                        "service_total": float(sum(v for v in service.values() if v is not None))},
        "rss_mb": {"service_total": sum(v for v in rss.values() if v) / 2**20 if any(rss.values()) else None},
        "service_counters": counters, "per_stream": per_stream,
        "target": {"samples_per_s": TARGET_SAMPLES_PER_S,
                   "met": None if rate is None else bool(rate >= TARGET_SAMPLES_PER_S and received == n * backlog)},
    }


def format_catchup(rows: list[dict[str, Any]]) -> list[str]:
    """The catch-up section of ``bench.md`` (empty when none was run)."""
    if not rows:
        return []
    backlog_s = rows[0]["backlog_s"]
    lines = ["", f"### Catch-up: {backlog_s:g} s backlog per stream pushed at once", "",
             "Samples/s end to end = backlog samples received / (arrival of the last backlog output − first push), "
             f"all streams together; target >= {TARGET_SAMPLES_PER_S:,.0f} samples/s (issue 16).", "",
             "| kind | streams | backlog samples | received | lost | catch-up s | samples/s | slowest stream samples/s "
             "| service CPU % | RSS MB | target |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in sorted(rows, key=lambda r: (r["n_streams"], r["kind"])):
        met = r["target"]["met"]
        verdict = "not measured" if met is None else ("met" if met else "**missed**")
        lines.append(f"| {r['kind']} | {r['n_streams']} | {r['n_pushed']:,} | {r['received']:,} | {r['lost']:,} | "
                     f"{_f(r['catchup_s'], 3)} | {_f(r['samples_per_s'], 0)} | "
                     f"{_f(r['per_stream_samples_per_s_min'], 0)} | {_f(r['cpu_percent']['service_total'], 0)} | "
                     f"{_f(r['rss_mb']['service_total'], 0)} | {verdict} |")
    return lines


def catchup_targets(rows: list[dict[str, Any]], backlog_s: float) -> list[dict[str, Any]]:
    """Issue 16's catch-up target per service kind, from its one-stream row (None: not measured)."""
    out = []
    for kind in ("slots", "process"):
        r = next((r for r in rows if r["kind"] == kind and r["n_streams"] == 1), None)
        crit = (f"catch-up of a {backlog_s:g} s backlog (1 stream): >= {TARGET_SAMPLES_PER_S:,.0f} samples/s "
                "end to end, none lost")
        out.append({"criterion": crit, "kind": kind, "load_kept_up": None,
                    "measured": None if r is None else {"samples_per_s": r["samples_per_s"], "lost": r["lost"]},
                    "met": None if r is None else r["target"]["met"]})
    return out


def _f(v: Any, nd: int) -> str:
    return "–" if v is None else f"{v:,.{nd}f}"
