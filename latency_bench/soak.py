"""Soak: the service decoding for N minutes; RSS and latency percentiles over time, and a plot.

Two decoders run side by side for the whole soak, as in a small deployment: the 64ch/H128/L2 GRU on a
1 kHz × 64-channel stream and the real-EEG model on a 160 Hz stream of real EEG. Every interval the
benchmark reads the RSS of each worker, of the API process, of the player and of the consumer (from
/proc), the service's counters, and the latencies the consumer measured in that interval (the consumer
and the player hand over and forget their records each interval, so their memory stays flat).

Figures: RSS growth of each service process (median of the last 10 % of intervals against the first 10 %
after warm-up), p99 drift (the p99 of every latency sample of the same windows, pooled), loss (samples pushed −
received), and the goals of the issue: RSS growth < 1 %, p99 drift < 20 %.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pylsl

from latency_bench import stats
from latency_bench.e2e import CONNECT_TIMEOUT_S, DRAIN_S, Harness
from latency_bench.models import BenchModel
from latency_bench.procs import rss_bytes

GOAL_RSS_GROWTH = 0.01
GOAL_P99_DRIFT = 0.20


def interval_for(minutes: float) -> float:
    """Seconds between two readings: about 120 readings per soak, between 1 s and 30 s apart."""
    return float(min(30.0, max(1.0, minutes * 60.0 / 120.0)))


def run_soak(h: Harness, streams: list[tuple[str, BenchModel, Path | None]], minutes: float,
             echo: Callable[[str], Any] = print, interval_s: float | None = None) -> dict[str, Any]:
    """Soak ``streams`` (``(label, model, data_path)``) through one service for ``minutes``."""
    if minutes <= 0:
        raise ValueError(f"minutes must be > 0, got {minutes}")
    interval = interval_s or interval_for(minutes)
    svc = h.service
    running: list[dict[str, Any]] = []
    series: list[dict[str, Any]] = []
    totals: dict[str, dict[str, int]] = {}
    try:
        for label, model, data_path in streams:
            name = h.unique(f"bench-soak-{label}")
            h.add_stream(name, model, data_path, capacity_s=interval * 3)
            # push-time stamps, counted by stamp: the service must keep them (see e2e.start_path)
            dec_id = svc.start_decoder(name, model.ref, {"timestamp_repair": "off"})
            st = svc.wait_running(dec_id, CONNECT_TIMEOUT_S)
            h.consumer.request({"cmd": "add", "name": f"{name}-decoded", "capacity_s": interval * 3,
                                "timeout": CONNECT_TIMEOUT_S}, "added", CONNECT_TIMEOUT_S + 5)
            running.append({"label": label, "name": name, "id": dec_id, "pid": int(st["pid"]), "model": model.ref,
                            "sfreq": model.sfreq})
        echo(f"soak: {len(running)} decoder(s) for {minutes:g} min, a reading every {interval:g} s")
        n_readings = max(1, int(round(minutes * 60.0 / interval)))
        skip, window = _windows(n_readings)
        first_lat: dict[str, list[np.ndarray]] = {r["label"]: [] for r in running}
        last_lat: dict[str, deque[np.ndarray]] = {r["label"]: deque(maxlen=window) for r in running}
        t_start = pylsl.local_clock()
        for r in running:  # forget the start-up; count from t_start on
            _take(h, r, totals, t_start)
        end = t_start + minutes * 60.0
        next_t = t_start + interval
        while True:
            time.sleep(max(0.0, next_t - pylsl.local_clock()))
            raw: dict[str, np.ndarray] = {}
            series.append(_reading(h, running, t_start, totals, raw))
            i = len(series) - 1
            for label, lat in raw.items():  # pooled latencies of the first and the last `window` readings
                if skip <= i < skip + window:
                    first_lat[label].append(lat)
                last_lat[label].append(lat)
            last = series[-1]
            if len(series) % max(1, int(60 / interval)) == 0 or pylsl.local_clock() >= end:
                echo(f"soak: {last['t_s']:7.1f} s  worker RSS "
                     + ", ".join(f"{r['label']} {last['rss_mb'][r['label']]:.1f} MB" for r in running)
                     + "  p99 " + ", ".join(f"{r['label']} {_fmt(last['latency_ms'][r['label']]['p99'])} ms"
                                           for r in running))
            if pylsl.local_clock() >= end:
                break
            next_t += interval
        for r in running:  # stop pushing, let the last samples through, then count
            h.player.request({"cmd": "hold", "name": r["name"]}, "held")
        time.sleep(max(1.0, DRAIN_S))
        _settle(h, running)
        final = {r["label"]: svc.status(r["id"]) for r in running}
        for r in running:  # the last samples in flight
            _take(h, r, totals, t_start, final=True)
    finally:
        for r in running:
            try:
                svc.stop_decoder(r["id"])
            finally:
                h.player.request({"cmd": "remove", "name": r["name"]}, "removed")
    pooled = {label: (_p99(first_lat[label]), _p99(list(last_lat[label]))) for label in first_lat}
    return _summary(running, series, totals, final, minutes, interval, pooled, skip, window)


def _settle(h: Harness, running: list[dict[str, Any]], quiet_s: float = 0.5, timeout: float = 15.0) -> None:
    """Wait until no decoded stream received anything for ``quiet_s`` (at most ``timeout``): on a loaded machine
    the last samples pushed before the hold can still be on their way after a fixed drain."""
    deadline, previous = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        now = [h.consumer.request({"cmd": "stat", "name": f"{r['name']}-decoded"}, "stat")["total"] for r in running]
        if now == previous:
            return
        previous = now
        time.sleep(quiet_s)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _take(h: Harness, r: dict[str, Any], totals: dict[str, dict[str, int]], t_base: float,
          final: bool = False) -> np.ndarray:
    """This interval's consumer rows of stream ``r`` (the consumer and the player forget what they handed over);
    adds the samples pushed and received since ``t_base`` (push time) to ``totals``."""
    path = h.rec_dir / f"soak-{r['name']}.npy"
    pushed_path = h.rec_dir / f"soak-{r['name']}-pushed.npy"
    h.consumer.request({"cmd": "dump", "name": f"{r['name']}-decoded", "path": str(path), "remove": final,
                        "clear": True}, "dumped")
    h.player.request({"cmd": "dump", "name": r["name"], "path": str(pushed_path), "clear": True}, "dumped")
    rec, pushed = np.load(path), np.load(pushed_path)
    t = totals.setdefault(r["label"], {"pushed": 0, "received": 0})
    t["pushed"] += int((pushed >= t_base).sum())
    t["received"] += int((rec[:, 0] >= t_base).sum()) if len(rec) else 0
    return rec


def _reading(h: Harness, running: list[dict[str, Any]], t_start: float, totals: dict[str, dict[str, int]],
             raw: dict[str, np.ndarray]) -> dict[str, Any]:
    """One reading; ``raw`` receives this interval's latencies (ms) per stream."""
    out: dict[str, Any] = {"t_s": pylsl.local_clock() - t_start, "rss_mb": {}, "latency_ms": {}, "counters": {}}
    for r in running:
        rec = _take(h, r, totals, t_start)
        lat = (rec[:, 1] - rec[:, 0]) * 1e3 if len(rec) else np.empty(0)
        raw[r["label"]] = lat
        s = stats.summarise(lat)
        s.pop("cdf_ms")
        out["latency_ms"][r["label"]] = s
        rss = rss_bytes(r["pid"])
        out["rss_mb"][r["label"]] = None if rss is None else rss / 2**20
        c = h.service.status(r["id"])["counters"]
        out["counters"][r["label"]] = {k: c.get(k) for k in ("samples_in", "samples_out", "samples_lost", "gaps",
                                                             "deadline_misses")}
    for key, pid in (("api", h.service.pid), ("player", h.player.pid), ("consumer", h.consumer.pid)):
        rss = rss_bytes(pid)
        out["rss_mb"][key] = None if rss is None else rss / 2**20
    return out


def _windows(n_readings: int) -> tuple[int, int]:
    """``(skip, window)``: warm-up readings left out, and readings in the first and the last window (10 %)."""
    skip = min(max(1, n_readings // 20), max(0, n_readings - 2))
    window = max(1, (n_readings - skip) // 10)
    return skip, window


def _p99(chunks: list[np.ndarray]) -> float | None:
    lat = np.concatenate(chunks) if chunks else np.empty(0)
    return float(np.percentile(lat, 99)) if len(lat) else None


def _window_median(values: list[float | None], first: bool, skip: int, window: int) -> float | None:
    vals = [v for v in values[skip:] if v is not None]
    if not vals:
        return None
    return float(np.median(vals[:window] if first else vals[-window:]))


def _summary(running: list[dict[str, Any]], series: list[dict[str, Any]], totals: dict[str, dict[str, int]],
             final: dict[str, Any], minutes: float, interval: float,
             pooled: dict[str, tuple[float | None, float | None]], skip: int, window: int) -> dict[str, Any]:
    rss, drift = {}, {}
    for key in [r["label"] for r in running] + ["api", "player", "consumer"]:
        vals = [s["rss_mb"].get(key) for s in series]
        a, b = _window_median(vals, True, skip, window), _window_median(vals, False, skip, window)
        rss[key] = {"first_mb": a, "last_mb": b, "growth": stats.ratio(b - a, a) if a and b is not None else None,
                    "max_mb": max((v for v in vals if v is not None), default=None)}
    for r in running:
        a, b = pooled[r["label"]]
        drift[r["label"]] = {"first_p99_ms": a, "last_p99_ms": b,
                             "drift": stats.ratio(b - a, a) if a and b is not None else None}
    service_keys = [r["label"] for r in running] + ["api"]
    growth = [rss[k]["growth"] for k in service_keys if rss[k]["growth"] is not None]
    drifts = [d["drift"] for d in drift.values() if d["drift"] is not None]
    loss = {label: t["pushed"] - t["received"] for label, t in totals.items()}
    return {
        "minutes": minutes, "interval_s": interval, "warmup_readings_skipped": skip, "window_readings": window,
        "method": "RSS: median of the first and of the last window of readings after warm-up; p99: over all samples "
                  "of the first and of the last window, pooled",
        "decoders": [{k: r[k] for k in ("label", "model", "sfreq")} for r in running],
        "series": series, "rss": rss, "p99_drift": drift, "totals": totals, "lost": loss,
        "final_counters": {k: {c: v["counters"].get(c) for c in ("samples_in", "samples_out", "samples_lost", "gaps",
                                                                 "deadline_misses", "stalls", "reconnects")}
                           for k, v in final.items()},
        "goal": {"criterion": f"RSS growth < {GOAL_RSS_GROWTH:.0%} (service processes), p99 drift < "
                              f"{GOAL_P99_DRIFT:.0%}",
                 "max_rss_growth": max(growth) if growth else None, "max_p99_drift": max(drifts) if drifts else None,
                 "met": bool(growth and drifts and max(growth) < GOAL_RSS_GROWTH and max(drifts) < GOAL_P99_DRIFT)},
    }
