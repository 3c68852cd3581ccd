"""The paths under test of the end-to-end benchmarks, started on one input stream and stopped again.

:func:`start_path` starts one of :data:`latency_bench.peers.PATH_DESCRIPTIONS` (the service's worker, with or without
provenance or on Ray; the stream read directly; the bare relay; timeflux; mne-lsl) and returns a
:class:`StartedPath`: its output stream, its own processes, how to stop it and read the service's status.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from latency_bench import peers
from latency_bench.e2e_harness import CONNECT_TIMEOUT_S, Harness
from latency_bench.models import BenchModel
from latency_bench.procs import BenchError, RoleProcess


@dataclass
class StartedPath:
    """A started path: what to read, which processes are its own, how to stop it."""

    kind: str
    out_name: str
    pids: dict[str, int]
    stop: Callable[[], dict[str, Any] | None]
    status: Callable[[], dict[str, Any] | None] = lambda: None
    by_seq: bool = False


def start_path(h: Harness, kind: str, in_name: str, model: BenchModel,
               decoder_options: dict[str, Any] | None = None) -> StartedPath:
    """Start ``kind`` (one of :data:`latency_bench.peers.PATH_DESCRIPTIONS`) on ``in_name``."""
    if kind in ("service", "service_noprov", "service_ray"):
        svc = h.ray_service if kind == "service_ray" else h.service
        # The players stamp each sample with its push time and the consumer pairs outputs with pushes by stamp:
        # the service must keep them. A player that falls behind pushes a burst of nearly equal stamps, which the
        # service's timestamp repair (``auto``) would take for a chunk-stamped sender and rewrite.
        options = {"timestamp_repair": "off", **(decoder_options or {}),
                   **({"provenance": False} if kind == "service_noprov" else {})}
        dec_id = svc.start_decoder(in_name, model.ref, options)
        st = svc.wait_running(dec_id, CONNECT_TIMEOUT_S)
        return StartedPath(kind, f"{in_name}-decoded", {"worker": int(st["pid"]), "api": svc.pid},
                           stop=lambda: svc.stop_decoder(dec_id), status=lambda: svc.status(dec_id))
    if kind == "direct":
        return StartedPath(kind, in_name, {}, stop=lambda: None)
    if kind == "relay":
        proc = RoleProcess("relay", {"in": in_name, "out": f"{in_name}-relay"},
                           log_path=h.log_dir / f"relay-{in_name}.log")
        proc.wait_event("ready", CONNECT_TIMEOUT_S)
        return StartedPath(kind, f"{in_name}-relay", {"relay": proc.pid}, stop=lambda: _close(proc))
    if kind == "timeflux":
        st = h.peer_status["timeflux"]
        assert st.python is not None
        proc = peers.start_timeflux(st.python, in_name, f"{in_name}-tf", model.sfreq, h.log_dir)
        return StartedPath(kind, f"{in_name}-tf", {"timeflux": proc.pid}, stop=lambda: _close(proc, signal.SIGINT),
                           by_seq=True)
    if kind == "mnelsl":
        proc = peers.start_mnelsl(in_name, f"{in_name}-mnelsl", model, h.log_dir)
        proc.wait_event("ready", CONNECT_TIMEOUT_S)
        return StartedPath(kind, f"{in_name}-mnelsl", {"mnelsl": proc.pid}, stop=lambda: _close(proc))
    raise ValueError(f"path must be one of {', '.join(peers.PATH_DESCRIPTIONS)}, got {kind!r}")


def _end_phase(h: Harness, path: StartedPath | None, name: str) -> None:
    """Stop the path (if it started), then remove its input stream from the player, whatever happened."""
    try:
        if path is not None:
            path.stop()
    finally:
        h.player.request({"cmd": "remove", "name": name}, "removed")


def _close(proc: RoleProcess, sig: int | None = None) -> None:
    code = proc.close(timeout=10.0, sig=sig)
    if code not in (0, -signal.SIGINT, 130, None):
        raise BenchError(f"{proc.role} exited with code {code} ({proc._tail()})")
    return None


def _service_view(st: dict[str, Any] | None) -> dict[str, Any] | None:
    """Counters and per-stage latency (ms) the service reports about itself."""
    if not st:
        return None
    keep = ("samples_in", "samples_out", "samples_lost", "gaps", "deadline_misses", "chunks", "max_chunk", "stalls")
    stages = {k: {q: v.get(q) for q in ("p50", "p90", "p99", "p99_9", "max", "mean", "count")}
              for k, v in (st.get("latency_ms") or {}).items()}
    return {"counters": {k: st["counters"].get(k) for k in keep}, "latency_ms": stages}
