"""From one level's recordings to its row of ``bench scale``: matching, latency from push, sender lag, CPU, RSS.

Pushes pair with arrivals by exact timestamp; latency runs from the *push* (not from the sample's stamp, which
is earlier by the chunk's own buffering); the load generator's verdict says whether the senders kept their
schedule and whether the players, the consumers or the machine ran out of CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from latency_bench import stats

SENDER_LAG_LIMIT_MS = 2.0
"""A sender whose p99 lag behind its schedule exceeds this, or one chunk period if longer, did not keep up."""
LOADGEN_CPU_LIMIT = 85.0
"""A player or consumer process above this % of one core is (nearly) saturated."""
MACHINE_SATURATED = 95.0


def match_pushes(pushed: np.ndarray, rec: np.ndarray, window: tuple[float, float], chunk: int,
                 sfreq: float) -> dict[str, Any]:
    """Loss, latency from *push* to arrival (ms) and sender lag (ms) of the samples stamped inside ``window``.

    ``pushed`` holds ``[n, 2]`` rows (timestamp on the sender's schedule, push time); received rows pair with
    pushes by exact timestamp. The lag of a sample is how late its chunk left: push time minus the schedule
    time of the chunk's last sample.
    """
    stamps, push_t = pushed[:, 0], pushed[:, 1]
    lo, hi = int(np.searchsorted(stamps, window[0], "left")), int(np.searchsorted(stamps, window[1], "right"))
    seq = np.arange(lo, hi)
    lag = (push_t[lo:hi] - stamps[lo:hi] - (chunk - 1 - seq % chunk) / sfreq) * 1e3
    if len(rec) == 0 or len(stamps) == 0:
        return {"latency_ms": np.empty(0), "lag_ms": lag, "n_pushed": hi - lo, "lost": hi - lo}
    pos = np.minimum(np.searchsorted(stamps, rec[:, 0]), len(stamps) - 1)
    valid = stamps[pos] == rec[:, 0]
    idx, arrival = pos[valid], rec[valid, 1]
    inside = (idx >= lo) & (idx < hi)
    uniq, first = np.unique(idx[inside], return_index=True)
    lat = (arrival[inside][first] - push_t[uniq]) * 1e3
    return {"latency_ms": lat, "lag_ms": lag, "n_pushed": hi - lo, "lost": int(hi - lo - len(uniq))}


def _pct(x: np.ndarray) -> dict[str, float | None]:
    if not len(x):
        return {"p50": None, "p99": None, "max": None}
    return {"p50": float(np.percentile(x, 50)), "p99": float(np.percentile(x, 99)), "max": float(x.max())}


def matrix_row(kind: str, chunk: int, sfreq: float, w: dict[str, Any], pushed: dict[str, np.ndarray],
                received: dict[str, np.ndarray], drained: bool) -> dict[str, Any]:
    lats, lags, worst = [], [], []
    n_pushed = lost = 0
    for name in w["streams"]:
        m = match_pushes(pushed[name], received[name], w["window"], chunk, sfreq)
        lats.append(m["latency_ms"])
        lags.append(m["lag_ms"])
        n_pushed += m["n_pushed"]
        lost += m["lost"]
        if len(m["latency_ms"]):
            worst.append(float(np.percentile(m["latency_ms"], 99)))
    lat, lag = np.concatenate(lats), np.concatenate(lags)
    pct = w["cpu"]["percent"]
    service = {k: pct.get(k) for k in w["service_keys"]}
    senders = {k: v for k, v in pct.items() if k.startswith(("player", "consumer"))}
    latency = {k: v for k, v in stats.summarise(lat).items() if k != "cdf_ms"}
    rss = [v for v in w["rss"].values() if v]
    return {
        "n_streams": w["n"], "chunk_size": chunk, "kind": kind, "lost": lost, "n_pushed": n_pushed,
        "loss_fraction": lost / n_pushed if n_pushed else None, "drained": drained,
        "latency_ms": latency, "worst_stream_p99_ms": max(worst) if worst else None,
        "cpu_percent": {"per_process": {**service, **senders},
                        "service_total": float(sum(v for v in service.values() if v is not None)),
                        "system_total": float(sum(w["cpu"]["system_percent"].get(k) or 0.0 for k in service))},
        "rss_mb": {"service_total": sum(rss) / 2**20 if rss else None,
                   "per_process": {k: (v / 2**20 if v else None) for k, v in w["rss"].items()},
                   "service_tree_total": None if w["tree_rss"] is None else w["tree_rss"] / 2**20},
        "n_service_processes": len(service), "machine_busy_percent": w["cpu"].get("machine_busy_percent"),
        "setup_s": round(w["setup_s"], 2), "flowing": w.get("flowing"), "window_s": w["window"][1] - w["window"][0],
        "service_counters": w["counters"],
        "load_generator": _load_verdict(lag, senders, w["cpu"], max(SENDER_LAG_LIMIT_MS, 1e3 * chunk / sfreq)),
    }


def _load_verdict(lag_ms: np.ndarray, senders: dict[str, float | None], cpu: dict[str, Any],
                  lag_limit_ms: float) -> dict[str, Any]:
    """Did the senders and readers keep up? Why not, when they did not."""
    lag = _pct(lag_ms)
    notes = []
    behind = lag["p99"] is not None and lag["p99"] > lag_limit_ms
    if behind:
        notes.append(f"senders fell behind their 1 kHz schedule: lag p99 {lag['p99']:.2f} ms, max {lag['max']:.1f} ms")
    busy = {k: v for k, v in senders.items() if v is not None and v > LOADGEN_CPU_LIMIT}
    if busy:
        notes.append("load-generator processes near a full core: "
                     + ", ".join(f"{k} {v:.0f} %" for k, v in sorted(busy.items())))
    machine = cpu.get("machine_busy_percent")
    if machine is not None and machine >= MACHINE_SATURATED:
        notes.append(f"the machine was saturated ({machine:.0f} % of all cores busy): every process waited for a core")
    return {"sender_lag_ms": lag, "lag_limit_ms": lag_limit_ms, "cpu_percent": senders,
            "keeps_up": not behind and not busy,
            "machine_saturated": machine is not None and machine >= MACHINE_SATURATED, "notes": notes}
