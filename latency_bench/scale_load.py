"""The load generator of ``bench scale`` and what setting up a level needs: player and consumer processes, the
decoder options of a kind, a memory check before one more stream, waiting for outputs.

Senders and readers are spread over player and consumer processes so that the load generator is not the
bottleneck: a process gets at most :data:`SENDER_PUSHES_PER_S` pushes per second (8 streams of 1 kHz in 1-sample
chunks, at most :data:`STREAMS_PER_SENDER` streams whatever the chunk size). One player process pushing 16
streams of 1 kHz one sample at a time fell behind its schedule (sender lag p99 54-4,700 ms in the first runs): its
Python loop and liblsl's push share one core and one GIL. When the load generator falls behind anyway, the row
says so (``load_generator``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from latency_bench.e2e import Harness, StartedPath
from latency_bench.procs import BenchError, RoleProcess

STREAMS_PER_SENDER = 16
"""Most streams per player process and per consumer process (more streams: more of them)."""
SENDER_PUSHES_PER_S = 8000.0
"""Most pushes per second given to one player process (and reads to one consumer process)."""
MEMORY_PER_STREAM_MB = {"relay": 60.0, "slots": 20.0, "process": 250.0}
"""About what one more stream of a kind costs in RSS (a dedicated worker process is ~170-200 MB)."""
MEMORY_RESERVE_MB = 1024.0


def streams_per_process(chunk: int, sfreq: float) -> int:
    """Streams per player / consumer process for senders pushing ``chunk`` samples at a time at ``sfreq``."""
    return int(max(1, min(STREAMS_PER_SENDER, SENDER_PUSHES_PER_S * chunk // sfreq)))


class LoadGenerator:
    """Player and consumer processes (the harness's pair first), started when first needed.

    ``per_process``: streams per process, fixed; None: :func:`streams_per_process` of each run's chunk size.
    """

    def __init__(self, h: Harness, per_process: int | None = None) -> None:
        if per_process is not None and per_process < 1:
            raise ValueError(f"streams_per_sender must be >= 1, got {per_process}")
        self.h = h
        self.fixed = per_process
        self.players: list[RoleProcess] = [h.player]
        self.consumers: list[RoleProcess] = [h.consumer]

    def per_process(self, chunk: int, sfreq: float) -> int:
        return self.fixed if self.fixed is not None else streams_per_process(chunk, sfreq)

    def pair(self, index: int, per_process: int) -> tuple[RoleProcess, RoleProcess]:
        """The player and the consumer of the ``index``-th stream of a run (started when first needed)."""
        k = index // per_process
        while len(self.players) <= k:
            j = len(self.players)
            self.players.append(RoleProcess("player", {}, log_path=self.h.log_dir / f"player{j}.log"))
            self.consumers.append(RoleProcess("consumer", {}, log_path=self.h.log_dir / f"consumer{j}.log"))
            self.players[-1].wait_event("ready", 60.0)
            self.consumers[-1].wait_event("ready", 60.0)
        return self.players[k], self.consumers[k]

    def pids(self, n_streams: int, per_process: int) -> dict[str, int]:
        k = (n_streams + per_process - 1) // per_process
        return {**{f"player{j}": p.pid for j, p in enumerate(self.players[:k])},
                **{f"consumer{j}": c.pid for j, c in enumerate(self.consumers[:k])}}

    def close(self) -> None:
        for proc in (*self.players[1:], *self.consumers[1:]):
            proc.close()


@dataclass
class Stream:
    """One stream of a level: its name, its player and consumer processes, its path once started."""

    name: str
    player: RoleProcess
    consumer: RoleProcess
    path: StartedPath | None = None


def worker_options(kind: str, has_worker_option: bool = True) -> dict[str, Any]:
    """Decoder options of a service kind: ``slots`` asks for a shared worker, ``process`` for a dedicated one."""
    return {"worker": "shared" if kind == "slots" else "dedicated"} if has_worker_option else {}


def check_memory(kind: str) -> None:
    """Raise :class:`BenchError` when the machine has too little memory left for one more stream of ``kind``
    (``MemAvailable`` minus :data:`MEMORY_RESERVE_MB`): the level is reported as not run, not crashed."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            avail_mb = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:")) / 1024
    except (OSError, StopIteration, ValueError):
        return
    need = MEMORY_PER_STREAM_MB[kind]
    if avail_mb - need < MEMORY_RESERVE_MB:
        raise BenchError(f"too little memory for another {kind} stream: MemAvailable {avail_mb:.0f} MB, a stream "
                         f"needs about {need:.0f} MB and {MEMORY_RESERVE_MB:.0f} MB stay free")


def stop_stray_decoder(h: Harness, stream: Stream) -> None:
    """A decoder whose start failed (not running in time) is stopped, so that it loads no later level."""
    if stream.path is not None or h._service is None:
        return
    try:
        for d in h.service.client.get("/decoders").json():
            if (d.get("request") or {}).get("stream", {}).get("name") == stream.name:
                h.service.stop_decoder(d["id"])
    except Exception as exc:  # noqa: BLE001 - best effort; the level is reported as not run anyway
        h.echo(f"scale: could not stop the decoder of {stream.name}: {exc}")


def wait_delivered(streams: Sequence[Any], t: float, timeout: float) -> bool:
    """Wait until every stream (``.consumer``, ``.path``) delivered an output stamped at or after ``t``, each read
    by its own consumer process; False on timeout."""
    deadline = time.monotonic() + timeout
    pending = [s for s in streams if s.path]
    while pending and time.monotonic() < deadline:
        s = pending[0]
        ev = s.consumer.request({"cmd": "stat", "name": s.path.out_name}, "stat")
        if ev.get("last") and ev["last"][0] >= t:
            pending.pop(0)
        else:
            time.sleep(0.05)
    return not pending


def dump_received(h: Harness, consumer: RoleProcess, out_name: str) -> np.ndarray:
    """``[n, 3]`` rows (timestamp, arrival, seq) the consumer recorded of ``out_name``."""
    path = h.rec_dir / f"{out_name}.rec.npy"
    ev = consumer.request({"cmd": "dump", "name": out_name, "path": str(path)}, "dumped")
    if ev.get("error"):
        raise BenchError(f"consumer of {out_name}: {ev['error']}")
    return np.load(path)


def stop_streams(streams: Sequence[Stream]) -> None:
    """Stop every stream's path (decoder or relay), then remove its sender, even when one of them fails."""
    for s in streams:
        try:
            if s.path is not None:
                s.path.stop()
        finally:
            s.player.request({"cmd": "remove", "name": s.name}, "removed")
