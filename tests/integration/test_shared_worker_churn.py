"""A service whose shared decoders come and go keeps no descriptor of its ended shared workers. Each decoder below is
the only one of the service's one shared worker, so each DELETE ends that worker and the next start spawns another.
Before, the supervisor's record of when each worker last reported kept every ended worker's ``Process`` (two pipe
descriptors of the API process each) until 64 had piled up (leak audit s48 F2: +2 descriptors per ended worker,
16 -> 136 over 60 cycles). Real uvicorn in this process (whose descriptors are counted), real worker processes, real
LSL on loopback."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from support.common import unique
from support.http import wait_status
from support.lsl import new_outlet, wait_for

CYCLES = 8


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    settings = Settings(host="127.0.0.1", port=0, models_dir=models_dir, shared_workers=1,
                        recordings_dir=tmp_path_factory.mktemp("churn-rec"))
    with BackgroundServer(settings) as srv:
        yield srv


def gone(pid: int) -> bool:
    """The process ended and was joined (no zombie left)."""
    return not Path(f"/proc/{pid}").exists()


def open_fds() -> int:
    """This process's open descriptors, the least of a few looks over half a second (others come and go meanwhile: a
    loaded run saw 60 and 67 in turn at the same point of cycles), after one garbage collection (one per look: 45 a
    test, this file's main cost in a py-spy profile, as an xdist worker holds the objects of every test it ran)."""
    counts = []
    gc.collect()
    for _ in range(5):
        counts.append(len(os.listdir("/proc/self/fd")))
        time.sleep(0.1)
    return min(counts)


def one_cycle(client: httpx.Client, name: str) -> int:
    """Start a shared decoder (on a new shared worker), see it run, DELETE it (its worker ends); the worker's pid."""
    r = client.post("/decoders", json={"stream": {"name": name}, "model": "tiny-gru",
                                       "options": {"worker": "shared", "stall_timeout_s": 600}})
    assert r.status_code == 201, r.text
    st = wait_status(client, r.json()["id"], lambda s: s["state"] == "running", 90, "running")
    assert client.delete(f"/decoders/{st['id']}").status_code == 200
    return st["worker"]["pid"]


def test_ended_shared_workers_leave_no_descriptor_behind(server: BackgroundServer) -> None:
    name = unique("churn")
    outlet, _ = new_outlet(name, f"{name}-src")  # noqa: F841 - keeps the stream up
    counts, pids = [], []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(CYCLES + 1):  # the first a warm-up (the service's first connections, its first worker)
            pids.append(one_cycle(client, name))
            # counted at the same point of each cycle: its worker ended and joined, the monitor's next look passed
            wait_for(lambda: gone(pids[-1]), 30, f"shared worker {pids[-1]} to end")
            time.sleep(2 * server.settings.status_interval)
            counts.append(open_fds())
    assert len(set(pids)) == CYCLES + 1, pids  # a new worker each cycle: each DELETE ended the last one
    grown = counts[-1] - counts[0]
    assert grown < CYCLES, f"{grown} more descriptors after {CYCLES} ended shared workers (2 each before): {counts}"
