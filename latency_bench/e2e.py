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
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pylsl

from latency_bench import peers, stats
from latency_bench.models import BenchModel
from latency_bench.procs import BenchError, CpuMeter, RoleProcess, Service, tree_pids

Echo = Callable[[str], Any]
CONNECT_TIMEOUT_S = 60.0
DRAIN_S = 0.3
DRAIN_TIMEOUT_S = 10.0
DRAIN_MARGIN_S = 0.05
"""A path that rewrites timestamps (timeflux dejitters them) may shift them by a few ms: wait a bit past."""


@dataclass
class Harness:
    """The player, the consumer and (started on first use) the service of one benchmark run."""

    work_dir: Path
    echo: Echo = print
    timeflux_python: str | None = None
    player: RoleProcess = field(init=False)
    consumer: RoleProcess = field(init=False)
    _service: Service | None = field(default=None, init=False)
    _ray_service: Service | None = field(default=None, init=False)
    _ray_cluster: Any = field(default=None, init=False)
    _count: itertools.count = field(default_factory=itertools.count, init=False)

    def __post_init__(self) -> None:
        self.models_dir = self.work_dir / "models"
        self.rec_dir = self.work_dir / "rec"
        self.log_dir = self.work_dir / "logs"
        for d in (self.models_dir, self.rec_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.player = RoleProcess("player", {}, log_path=self.log_dir / "player.log")
        self.consumer = RoleProcess("consumer", {}, log_path=self.log_dir / "consumer.log")
        try:
            self.player.wait_event("ready", 60.0)
            self.consumer.wait_event("ready", 60.0)
        except BenchError:
            self.close()
            raise
        self.peer_status = {"mnelsl": peers.mnelsl_status(), "timeflux": peers.timeflux_status(self.timeflux_python)}

    def unique(self, prefix: str) -> str:
        """A stream name no other run on this host uses."""
        return f"{prefix}-{os.getpid()}-{next(self._count)}"

    @property
    def service(self) -> Service:
        if self._service is None:
            self.echo("starting the service (bci-stream serve)")
            self._service = Service(self.models_dir, self.log_dir / "service.log")
            self._service.wait_ready()
        return self._service

    @property
    def ray_service(self) -> Service:
        """The same service with ``--backend ray`` on a one-node Ray cluster on loopback (started on first use)."""
        if self._ray_service is None:
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on 127.0.0.1 only (read at import)
            try:
                from ray.cluster_utils import Cluster
            except ImportError:
                raise BenchError("path service_ray needs Ray: pip install 'bci-stream[cluster]'") from None
            self.echo("starting a one-node Ray cluster and the service (bci-stream serve --backend ray)")
            for attempt in (1, 2):  # Ray gives a node a fixed 30 s to register: once more on a loaded machine
                self._ray_cluster = Cluster()
                try:
                    self._ray_cluster.add_node(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20,
                                               node_ip_address="127.0.0.1")
                    break
                except Exception as exc:  # noqa: BLE001
                    self._ray_cluster.shutdown()
                    self._ray_cluster = None
                    if attempt == 2:
                        raise BenchError(f"the Ray head did not start: {exc}") from None
            self._ray_service = Service(self.models_dir, self.log_dir / "service-ray.log", settings={
                "BCI_STREAM_BACKEND": "ray", "BCI_STREAM_RAY_ADDRESS": self._ray_cluster.address,
                "BCI_STREAM_RAY_LISTEN_HOST": "127.0.0.1"})
            self._ray_service.wait_ready()
        return self._ray_service

    def add_stream(self, name: str, model: BenchModel, data_path: Path | None, *, seq_channel: int | None = None,
                   hold: bool = False, capacity_s: float = 120.0) -> None:
        spec = {"name": name, "n_chans": model.n_chans, "sfreq": model.sfreq, "ch_names": model.ch_names,
                "seq_channel": seq_channel, "data_path": str(data_path) if data_path else None, "seed": 1,
                "hold": hold, "capacity_s": capacity_s}
        self.player.request({"cmd": "add", "stream": spec}, "added")

    def dump_pushed(self, name: str) -> np.ndarray:
        path = self.rec_dir / f"{name}.pushed.npy"
        self.player.request({"cmd": "dump", "name": name, "path": str(path)}, "dumped")
        return np.load(path)

    def drain(self, out_names: Sequence[str], t_end: float, timeout: float = DRAIN_TIMEOUT_S) -> bool:
        """Wait until every stream in ``out_names`` delivered a sample stamped after ``t_end`` (at least
        :data:`DRAIN_S`, at most ``timeout``); False on timeout (late samples then count as lost)."""
        time.sleep(DRAIN_S)
        return self.wait_delivered(out_names, t_end + DRAIN_MARGIN_S, timeout)

    def wait_delivered(self, out_names: Sequence[str], t: float, timeout: float = DRAIN_TIMEOUT_S) -> bool:
        """Wait (at most ``timeout`` seconds) until every stream in ``out_names`` delivered a sample stamped at
        or after ``t``; False on timeout."""
        deadline = time.monotonic() + timeout
        pending = list(out_names)
        while pending and time.monotonic() < deadline:
            ev = self.consumer.request({"cmd": "stat", "name": pending[0]}, "stat")
            if ev.get("last") and ev["last"][0] >= t:
                pending.pop(0)
            else:
                time.sleep(0.05)
        return not pending

    def dump_received(self, out_name: str) -> np.ndarray:
        path = self.rec_dir / f"{out_name}.rec.npy"
        ev = self.consumer.request({"cmd": "dump", "name": out_name, "path": str(path)}, "dumped")
        if ev.get("error"):
            raise BenchError(f"consumer of {out_name}: {ev['error']}")
        return np.load(path)

    def close(self) -> None:
        if self._service is not None:
            self._service.close()
        if self._ray_service is not None:
            self._ray_service.close()
        if self._ray_cluster is not None:
            self._ray_cluster.shutdown()
        self.consumer.close()
        self.player.close()


# --------------------------------------------------------------------------------------------------
# One path on one stream


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
                errors[kind] = str(exc)
                h.echo(f"e2e {label}: {kind} failed: {exc}")
    results: dict[str, Any] = {}
    for kind, ph in phases.items():
        if not ph:
            results[kind] = {"available": False, "reason": errors.get(kind, "no phase ran")}
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


# --------------------------------------------------------------------------------------------------
# Catch-up


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
