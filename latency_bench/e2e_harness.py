"""The harness of the end-to-end benchmarks: the player, the consumer and the service of one benchmark run.

:class:`Harness` starts the player and consumer role processes (:mod:`latency_bench.roles`), starts the service
(``bci-stream serve``, or ``--backend ray`` on a one-node Ray cluster) on first use, adds streams to the player and
reads back what was pushed and received; :meth:`Harness.drain` waits until the outputs caught up.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latency_bench import peers
from latency_bench.interrupt import reraise_if_stopped
from latency_bench.models import BenchModel
from latency_bench.procs import BenchError, RoleProcess, Service


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
                    reraise_if_stopped()
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
