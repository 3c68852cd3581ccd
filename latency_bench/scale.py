"""Scaling: N concurrent 1 kHz streams through one service, beside the bare relay of the same load.

Two entry points:

* :func:`run_scale_matrix` (``bci-stream bench scale``, issue 16): for every chunk size (samples per push of
  the senders) and every kind, the levels one after the other (the streams of a level keep running into the
  next): ``relay`` (one bare relay process per stream: the transport floor), ``slots`` (the service, decoder
  option ``worker="shared"``: streams stepped together in shared workers) and ``process`` (the service,
  ``worker="dedicated"``: one worker process per stream, the original design). One row per (chunk size, level,
  kind): loss and latency from push to arrival, CPU% and RSS of every process of the path, the load
  generator's own CPU and lag. Senders and readers are spread over several player and consumer processes
  (:mod:`latency_bench.scale_load`) so that the load generator is not the bottleneck; when it falls behind
  anyway, the row says so (``load_generator``). A level that cannot be set up is reported
  (``levels_not_run``), not crashed; then the catch-up rows (:mod:`latency_bench.scale_catchup`).
* :func:`run_scale` (the ``scale`` section of ``python -m latency_bench all``): one kind, one sample per push.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pylsl

from latency_bench import stats
from latency_bench.e2e import CONNECT_TIMEOUT_S, Harness, StartedPath, _service_view, start_path
from latency_bench.interrupt import reraise_if_stopped
from latency_bench.models import BenchModel
from latency_bench.procs import CpuMeter, rss_bytes, tree_pids
from latency_bench.scale_load import (LoadGenerator, Stream as _Stream, check_memory, dump_received as _dump_received,
                                      stop_stray_decoder, stop_streams, wait_delivered, worker_options)
from latency_bench.scale_rows import matrix_row

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
            # The window opens only once every path of the level delivers samples pushed after its set-up: a
            # path still connecting under load would otherwise count its first samples as lost.
            flowing = h.wait_delivered([path.out_name for _, path in streams], pylsl.local_clock(),
                                       CONNECT_TIMEOUT_S)
            time.sleep(warmup)
            before = {name: path.status() for name, path in streams}
            pids = worker_pids(path for _, path in streams)
            meter = CpuMeter({**pids, **api, "player": h.player.pid, "consumer": h.consumer.pid}).start()
            ta = pylsl.local_clock()
            time.sleep(seconds)
            tb = pylsl.local_clock()
            cpu = meter.stop()
            after = {name: path.status() for name, path in streams}
            windows.append({"n": n, "window": (ta, tb), "streams": [(nm, p.out_name) for nm, p in streams],
                            "cpu": cpu, "setup_s": setup_s, "flowing": flowing,
                            "counters": _counter_deltas(before, after),
                            "service": [_service_view(st) for st in after.values()] if kind == "service" else None})
        drained = h.drain([path.out_name for _, path in streams], windows[-1]["window"][1])
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
            "sfreq": model.sfreq, "seconds_per_level": seconds, "warmup_s": warmup, "drained": drained, "levels": rows,
            "goal": _goal(rows)}


def worker_pids(paths: Iterable[Any]) -> dict[str, int]:
    """``worker<pid> -> pid``, one entry per worker process of ``paths`` (their ``pids``' first value): shared
    workers (the service's default) serve several streams each, and a process metered once per stream had its CPU
    counted that many times (above what the machine has: 678 % at 16 streams on 2 cores)."""
    return {f"worker{pid}": pid for pid in dict.fromkeys(next(iter(p.pids.values())) for p in paths)}


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
        "n_streams": w["n"], "setup_s": round(w["setup_s"], 2), "flowing": w["flowing"],
        "window_s": w["window"][1] - w["window"][0],
        "n_pushed": n_pushed, "lost": lost, "loss_fraction": lost / n_pushed if n_pushed else None,
        "latency_ms": stats.summarise(lat), "worst_stream_p99_ms": max(p99s) if p99s else None,
        "worker_processes": len(workers),
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


# --------------------------------------------------------------------------------------------------
# The matrix of issue 16: chunk sizes × kinds × levels

KINDS = ("relay", "slots", "process")
DEFAULT_LEVELS = (1, 4, 16, 32, 64)
DEFAULT_CHUNK_SIZES = (1, 10)


def slots_unavailable() -> str | None:
    """Why the service cannot host ``worker="shared"`` decoders in this tree (None: it can)."""
    from bci_stream.core.spec import DecoderOptions

    if "worker" not in DecoderOptions.model_fields:
        return "DecoderOptions has no 'worker' option: the service has no shared workers in this tree"
    try:
        DecoderOptions(worker="shared")
    except ValueError as exc:
        return f"DecoderOptions(worker='shared') is rejected: {exc}"
    return None


def run_scale_matrix(h: Harness, model: BenchModel, levels: Sequence[int], chunk_sizes: Sequence[int],
                     seconds: float, warmup: float, kinds: Sequence[str] = KINDS,
                     streams_per_sender: int | None = None, catchup_s: float = 0.0,
                     catchup_streams: Sequence[int] = ()) -> dict[str, Any]:
    """Every chunk size × kind × level on ``model``; one row each (see the module docstring).

    ``streams_per_sender``: streams per player process and per consumer process (None: by chunk size, see
    :func:`latency_bench.scale_load.streams_per_process`). A level whose streams cannot
    be set up (a decoder that does not start, too little memory for more worker processes) is listed in
    ``levels_not_run`` with the reason, and the kind's higher levels are not tried: the rows measured so far are
    kept. ``catchup_s`` > 0: after the matrix, for every service kind and every count in ``catchup_streams``, a
    backlog of ``catchup_s`` seconds per stream pushed at once (:mod:`latency_bench.scale_catchup`).
    """
    levels = sorted(set(int(n) for n in levels))
    if not levels or levels[0] < 1:
        raise ValueError(f"levels must be stream counts >= 1, got {levels}")
    if not chunk_sizes or min(chunk_sizes) < 1:
        raise ValueError(f"chunk_sizes must be samples per push >= 1, got {list(chunk_sizes)}")
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ValueError(f"kinds must be among {', '.join(KINDS)}, got {bad}")
    no_slots = slots_unavailable()
    skipped = {"slots": no_slots} if no_slots and "slots" in kinds else {}
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    not_run: list[dict[str, Any]] = []
    catchup: list[dict[str, Any]] = []
    load = LoadGenerator(h, streams_per_sender)
    try:
        for chunk in chunk_sizes:
            for kind in kinds:
                if kind in skipped:
                    h.echo(f"scale: {kind} skipped: {skipped[kind]}")
                    continue
                try:
                    kind_rows, kind_not_run = _run_kind(h, load, model, kind, int(chunk), levels, seconds, warmup,
                                                        no_slots is None)
                    rows += kind_rows
                    not_run += kind_not_run
                except Exception as exc:  # noqa: BLE001 - a benchmark reports a failed kind and measures the others
                    reraise_if_stopped()
                    errors.append({"kind": kind, "chunk_size": int(chunk), "error": f"{type(exc).__name__}: {exc}"})
                    h.echo(f"scale: {kind}, chunks of {chunk} failed: {exc}")
        if catchup_s > 0 and catchup_streams:
            from latency_bench.scale_catchup import run_catchup_rows

            for kind in (k for k in kinds if k != "relay" and k not in skipped):
                try:
                    catchup += run_catchup_rows(h, load, model, kind, catchup_s, catchup_streams,
                                                no_slots is None)
                except Exception as exc:  # noqa: BLE001
                    reraise_if_stopped()
                    errors.append({"kind": kind, "chunk_size": None, "what": "catch-up",
                                   "error": f"{type(exc).__name__}: {exc}"})
                    h.echo(f"scale: catch-up of {kind} failed: {exc}")
    finally:
        load.close()
    return {"model": model.ref, "architecture": model.architecture, "n_chans": model.n_chans, "sfreq": model.sfreq,
            "levels": levels, "chunk_sizes": [int(c) for c in chunk_sizes], "kinds": list(kinds),
            "seconds_per_level": seconds, "warmup_s": warmup,
            "streams_per_sender": {str(int(c)): load.per_process(int(c), model.sfreq) for c in chunk_sizes},
            "rows": rows, "levels_not_run": not_run, "catchup_s": catchup_s,
            "catchup_streams": list(catchup_streams), "catchup": catchup, "skipped": skipped, "errors": errors}


def _run_kind(h: Harness, load: LoadGenerator, model: BenchModel, kind: str, chunk: int, levels: list[int],
              seconds: float, warmup: float, has_worker_option: bool) -> tuple[list[dict[str, Any]],
                                                                                list[dict[str, Any]]]:
    """The rows of one kind and chunk size, level after level; and the levels that could not be set up."""
    streams: list[_Stream] = []
    windows: list[dict[str, Any]] = []
    not_run: list[dict[str, Any]] = []
    capacity = len(levels) * (warmup + seconds + 30) + 60
    options = worker_options(kind, has_worker_option)
    per = load.per_process(chunk, model.sfreq)
    try:
        for n in levels:
            h.echo(f"scale: {kind}, chunks of {chunk}, {n} stream(s), {seconds:g} s")
            t_setup = time.monotonic()
            try:
                while len(streams) < n:
                    check_memory(kind)
                    player, consumer = load.pair(len(streams), per)
                    st = _Stream(h.unique(f"scale-{kind}-c{chunk}"), player, consumer)
                    spec = {"name": st.name, "n_chans": model.n_chans, "sfreq": model.sfreq,
                            "ch_names": model.ch_names, "seed": 1, "capacity_s": capacity, "chunk_size": chunk}
                    player.request({"cmd": "add", "stream": spec}, "added")
                    streams.append(st)
                    st.path = start_path(h, "relay" if kind == "relay" else "service", st.name, model,
                                         None if kind == "relay" else options)
                    consumer.request({"cmd": "add", "name": st.path.out_name, "capacity_s": capacity,
                                      "timeout": CONNECT_TIMEOUT_S}, "added", CONNECT_TIMEOUT_S + 5)
            except Exception as exc:  # noqa: BLE001 - reported; the levels measured so far are kept
                reraise_if_stopped()
                reason = f"{type(exc).__name__}: {exc}"
                if streams and kind != "relay":
                    stop_stray_decoder(h, streams[-1])
                not_run.append({"n_streams": n, "chunk_size": chunk, "kind": kind,
                                "streams_started": sum(s.path is not None for s in streams), "reason": reason})
                h.echo(f"scale: {kind}, chunks of {chunk}: level {n} not run ({reason}); higher levels skipped")
                break
            setup_s = time.monotonic() - t_setup
            # The window opens only once every path of the level delivers samples pushed after its set-up: a
            # path still connecting under load would otherwise count its first samples as lost.
            flowing = wait_delivered(streams, pylsl.local_clock(), CONNECT_TIMEOUT_S)
            time.sleep(warmup)
            before = {s.name: s.path.status() for s in streams if s.path}
            procs = _path_processes(h, kind, streams, before)
            meter = CpuMeter({**procs, **load.pids(n, per)}).start()
            ta = pylsl.local_clock()
            time.sleep(seconds)
            tb = pylsl.local_clock()
            cpu = meter.stop()
            rss = {k: rss_bytes(pid) for k, pid in procs.items()}
            tree = [rss_bytes(p) for p in tree_pids(h.service.pid)] if kind != "relay" else None
            after = {s.name: s.path.status() for s in streams if s.path}
            windows.append({"n": n, "window": (ta, tb), "streams": [s.name for s in streams], "cpu": cpu,
                            "service_keys": list(procs), "rss": rss, "setup_s": setup_s, "flowing": flowing,
                            "tree_rss": None if tree is None else sum(v for v in tree if v),
                            "counters": _counter_deltas(before, after) if kind != "relay" else None})
        if not windows:
            return [], not_run
        measured = [s for s in streams if s.name in set(windows[-1]["streams"])]
        drained = _drain(measured, windows[-1]["window"][1])
        pushed, received = {}, {}
        for s in measured:
            path = h.rec_dir / f"{s.name}.pushed.npy"
            s.player.request({"cmd": "dump", "name": s.name, "path": str(path), "push_times": True}, "dumped")
            pushed[s.name] = np.load(path)
            assert s.path is not None
            received[s.name] = _dump_received(h, s.consumer, s.path.out_name)
    finally:
        stop_streams(streams)
    return [matrix_row(kind, chunk, model.sfreq, w, pushed, received, drained) for w in windows], not_run


def _path_processes(h: Harness, kind: str, streams: list[_Stream], status: dict[str, Any]) -> dict[str, int]:
    """The processes of the path under test: the relays, or the API and every worker serving a stream."""
    if kind == "relay":
        return {f"relay{i}": s.path.pids["relay"] for i, s in enumerate(streams) if s.path}
    pids = {"api": h.service.pid}
    for s in streams:
        st = status.get(s.name) or {}
        pid = (st.get("worker") or {}).get("pid") or st.get("pid") or (s.path.pids.get("worker") if s.path else None)
        if pid:
            pids[f"worker{pid}"] = int(pid)
    return pids


def _drain(streams: list[_Stream], t_end: float, timeout: float = 20.0) -> bool:
    """Wait until every stream delivered an output stamped after ``t_end``; False on timeout."""
    time.sleep(0.3)
    return wait_delivered(streams, t_end + 0.05, timeout)
