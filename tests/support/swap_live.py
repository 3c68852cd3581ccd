"""A server with two swappable models, a running decoder to hot-swap, and a real shortage on its worker's process
(out of file descriptors)."""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Iterator
from pathlib import Path

import httpx
import pylsl

from bci_stream.api.server import BackgroundServer
from bci_stream.core.settings import Settings
from support.common import TINY_CH_NAMES, export_tiny, unique
from support.http import wait_status
from support.tiny_variants import export_variant


@contextlib.contextmanager
def swap_server(root: Path, token: str) -> Iterator[tuple[BackgroundServer, httpx.Client]]:
    """A real server on ``root`` holding ``tiny-gru`` and ``tiny-ok`` (same channels, rate and outputs: a swap that
    can succeed), and a client that sends ``token``."""
    export_tiny(root, "tiny-gru", "gru")
    export_variant(root, "tiny-ok")
    settings = Settings(host="127.0.0.1", port=0, models_dir=root, status_interval=0.1, token=token)
    with BackgroundServer(settings) as srv, httpx.Client(base_url=srv.url, timeout=60.0,
                                                         headers={"Authorization": f"Bearer {token}"}) as c:
        yield srv, c


@contextlib.contextmanager
def running_decoder(client: httpx.Client, worker: str, model: str = "tiny-gru") -> Iterator[dict]:
    """A decoder of ``model`` in a ``worker`` worker on a fresh outlet (the tiny channels, in uV), running; yields its
    status and stops it after."""
    name = unique(f"swap-live-{worker}")
    info = pylsl.StreamInfo(name, "EEG", len(TINY_CH_NAMES), 500.0, "float32", f"{name}-src")
    channels = info.desc().append_child("channels")
    for label in TINY_CH_NAMES:
        channels.append_child("channel").append_child_value("label", label).append_child_value("unit", "uV")
    outlet = pylsl.StreamOutlet(info)
    # its stream sends nothing: 'running' lasts stall_timeout_s, which must outlast the swaps a test sends (the
    # default 1 s does not on a loaded machine)
    r = client.post("/decoders", json={"stream": {"name": name}, "model": model,
                                       "options": {"worker": worker, "stall_timeout_s": 600}})
    assert r.status_code == 201, r.text
    decoder_id = r.json()["id"]
    try:
        yield wait_status(client, decoder_id, lambda s: s["state"] == "running", 30, "running")
    finally:
        client.delete(f"/decoders/{decoder_id}")
        del outlet  # kept alive until here


@contextlib.contextmanager
def no_new_descriptors(pid: int) -> Iterator[None]:
    """Process ``pid`` cannot open anything (RLIMIT_NOFILE at its lowest free descriptor: open() is EMFILE) while
    inside; its descriptors already open keep working."""
    limit = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    used = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (min(set(range(len(used) + 1)) - used), limit[1]))
    try:
        yield
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, limit)
