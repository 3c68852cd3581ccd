"""End-to-end latency through real processes on loopback LSL, bci-stream beside the transport floor and peers.

One **player** process pushes every sample on its own with timestamp = ``local_clock()`` at push; the
path under test (the service's worker, the bare relay, timeflux, mne-lsl) reads it and publishes one
output per input with the input's timestamp; one **consumer** process pulls the output and records
``local_clock()`` at arrival. Latency = arrival − push, per sample; loss = pushed − received.

Each path runs in its own *phase* on a fresh input stream (nothing else of the benchmark is decoding
meanwhile); phases are repeated in rounds whose order rotates, so machine drift spreads over all paths.
Per phase: start the path, connect the consumer, warm up, measure for ``seconds``, drain, stop.

Catch-up: the player holds a fresh stream until the path and the consumer are connected, then pushes a
backlog of ``backlog_s`` seconds of samples at once (stamped as recorded over the past ``backlog_s``
seconds) and goes live; throughput = backlog samples / (arrival of the last backlog output − push).

The parts: :mod:`~latency_bench.e2e_harness` (player, consumer, service), :mod:`~latency_bench.e2e_paths` (the paths
under test) and :mod:`~latency_bench.e2e_catchup` (catch-up). This module measures one path (:func:`run_phase`) and
every path of a rate in rounds (:func:`run_rate`); every name of the parts stays importable from here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pylsl

from latency_bench import peers, stats
from latency_bench.e2e_catchup import compute_catchup, run_catchup
from latency_bench.e2e_harness import CONNECT_TIMEOUT_S, DRAIN_S, Harness
from latency_bench.e2e_paths import StartedPath, _end_phase, _service_view, start_path
from latency_bench.interrupt import reraise_if_stopped
from latency_bench.models import BenchModel
from latency_bench.procs import BenchError, CpuMeter, tree_pids

__all__ = [
    "run_phase", "match_phase", "run_rate", "path_ratios", "Harness", "CONNECT_TIMEOUT_S", "DRAIN_S",
    "StartedPath", "start_path", "_end_phase", "_service_view", "run_catchup", "compute_catchup"
]


def run_phase(h: Harness, kind: str, model: BenchModel, data_path: Path | None, seconds: float, warmup: float,
              decoder_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Measure one path on a fresh stream; returns the figures and ``_latency_ms`` (raw, not for JSON)."""
    name = h.unique(f"bench-{kind}")
    seq_channel = 0 if kind == "timeflux" else None
    h.add_stream(name, model, data_path, seq_channel=seq_channel, capacity_s=warmup + seconds + 60)
    path: StartedPath | None = None
    pushed: np.ndarray | None = None
    stop_error: str | None = None
    try:
        t_setup = time.monotonic()
        path = start_path(h, kind, name, model, decoder_options)
        h.consumer.request({"cmd": "add", "name": path.out_name, "seq_channel": seq_channel,
                            "capacity_s": warmup + seconds + 60, "timeout": CONNECT_TIMEOUT_S},
                           "added", CONNECT_TIMEOUT_S + 5)
        setup_s = time.monotonic() - t_setup
        time.sleep(warmup)
        pids = {k: p for k, p in path.pids.items()}
        if kind == "timeflux":  # timeflux runs its graph in a child process
            for i, p in enumerate(tree_pids(path.pids["timeflux"])[1:]):
                pids[f"timeflux_child{i}"] = p
        meter = CpuMeter({**pids, "player": h.player.pid, "consumer": h.consumer.pid}).start()
        ta = pylsl.local_clock()
        time.sleep(seconds)
        tb = pylsl.local_clock()
        cpu = meter.stop()
        drained = h.drain([path.out_name], tb)
        rec = h.dump_received(path.out_name)
        service = _service_view(path.status())
        pushed = h.dump_pushed(name)
    finally:
        try:
            _end_phase(h, path, name)
        except BenchError as exc:  # after the measurement: the path did not stop cleanly; its figures stand
            reraise_if_stopped()  # (a Ctrl-C stopped the path and player too: the stop, not this error)
            if pushed is None:
                raise
            stop_error = str(exc)[:300]
            h.echo(f"{kind}: measured, then did not stop cleanly: {stop_error}")
    m = match_phase(pushed, rec, (ta, tb), path.by_seq)
    path_cpu = sum(v for k, v in cpu["percent"].items() if k not in ("player", "consumer", "api") and v is not None)
    return {"kind": kind, "stream": name, "setup_s": round(setup_s, 2), "window_s": tb - ta, "drained": drained, **m,
            "cpu_percent": {**cpu["percent"], "path": path_cpu}, "cpu_system_percent": cpu["system_percent"],
            "machine_busy_percent": cpu.get("machine_busy_percent"),
            "service": service, **({"stop_error": stop_error} if stop_error else {})}


def match_phase(pushed: np.ndarray, rec: np.ndarray, window: tuple[float, float], by_seq: bool) -> dict[str, Any]:
    m = stats.match(pushed, rec, window, by_seq=by_seq)
    out = {k: v for k, v in m.items() if k != "latency_ms"}
    out["_latency_ms"] = m["latency_ms"]
    return out


# --------------------------------------------------------------------------------------------------
# A rate: every path, in rounds


def run_rate(h: Harness, label: str, model: BenchModel, data_path: Path | None, data_desc: str,
             paths: Sequence[str], seconds: float, warmup: float, rounds: int,
             service_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every available path on ``model``'s rate and channels, ``rounds`` times in rotating order."""
    avail, skipped = [], {}
    for p in paths:
        st = h.peer_status.get(p)
        if st is not None and not st.available:
            skipped[p] = st.reason
        else:
            avail.append(p)
    phases: dict[str, list[dict[str, Any]]] = {p: [] for p in avail}
    errors: dict[str, str] = {}
    for r in range(rounds):
        order = avail[r % len(avail):] + avail[: r % len(avail)] if avail else []
        for kind in order:
            if kind in errors:
                continue
            h.echo(f"e2e {label}: {kind} (round {r + 1}/{rounds}, {seconds:g} s)")
            try:
                phases[kind].append(run_phase(h, kind, model, data_path, seconds, warmup,
                                              service_options if kind.startswith("service") else None))
            except BenchError as exc:
                reraise_if_stopped()
                errors[kind] = str(exc)
                h.echo(f"e2e {label}: {kind} failed: {exc}")
    results: dict[str, Any] = {}
    for kind, ph in phases.items():
        if not ph:  # tried and failed: not a peer that is missing (skipped below), a failure the exit code counts
            results[kind] = {"available": False, "failed": True, "reason": errors.get(kind, "no phase ran")}
            continue
        lat = np.concatenate([p.pop("_latency_ms") for p in ph])
        n_pushed = sum(p["n_pushed"] for p in ph)
        lost = sum(p["lost"] for p in ph)
        cpu = [p["cpu_percent"]["path"] for p in ph]
        results[kind] = {
            "available": True, "description": peers.PATH_DESCRIPTIONS[kind], "latency_ms": stats.summarise(lat),
            "n_pushed": n_pushed, "lost": lost, "loss_fraction": lost / n_pushed if n_pushed else None,
            "cpu_percent": float(np.mean(cpu)), "phases": ph,
        }
        if kind == "timeflux":
            results[kind]["latency_method"] = "by sequence number (timeflux dejitters timestamps)"
        if errors.get(kind):
            results[kind]["error"] = errors[kind]
    for kind, reason in skipped.items():
        results[kind] = {"available": False, "reason": reason}
    return {"label": label, "model": model.ref, "architecture": model.architecture, "n_chans": model.n_chans,
            "sfreq": model.sfreq, "data": data_desc, "model_notes": model.notes, "seconds_per_phase": seconds,
            "warmup_s": warmup, "rounds": rounds, "paths": results, "ratios": path_ratios(results)}


def path_ratios(results: dict[str, Any]) -> dict[str, Any]:
    """p50/p99 of the service over the relay floor, and each peer's p50/p99 over the service's."""
    def lat(kind: str, q: str) -> float | None:
        r = results.get(kind) or {}
        return (r.get("latency_ms") or {}).get(q) if r.get("available") else None

    out: dict[str, Any] = {}
    for q in ("p50", "p99"):
        out[f"service_over_relay_{q}"] = stats.ratio(lat("service", q), lat("relay", q))
        for peer in ("timeflux", "mnelsl", "service_ray"):
            out[f"{peer}_over_service_{q}"] = stats.ratio(lat(peer, q), lat("service", q))
    return out
