"""Fault 15c: the pins folder (``BCI_STREAM_PINS_DIR``) has room for a small file but not for a model (a nearly full
disk, a quota, a file size limit); a running decoder is hot swapped, then its worker is killed (found by a storage
audit, findings-storage/02).

Before: the swap answered 200 but the swapped-in model's copy failed, and a small error file took its place, so the
restart ended in ``error`` (final) although the registry still held the very bytes the decoder ran. Now a copy that
failed for a storage reason leaves no copy at all (the one of the model before the swap removed too): a restart
copies, or runs, the registry's model while it is those bytes; only when the registry holds other bytes does it end
in ``error`` (final), saying which.

The small disk is this process's file size limit (``ulimit -f``, ``RLIMIT_FSIZE``) while the swaps are answered: a
file written past it fails with EFBIG, as a disk with a few KB free fails with ENOSPC; no mount is needed.
"""

from __future__ import annotations

import contextlib
import resource
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bci_stream.api.server import BackgroundServer
from faults.kit import AUTH, LivePusher, make_settings, start_running
from faults.test_f15_model_replaced_then_restart import export, replace_folder
from faults.test_f15_pins_unwritable import killed
from support.common import unique
from support.http import wait_status
from support.lsl import new_outlet

#: files of this process may not grow past this (bytes): a card (~2 KB) or an error file fits, an ONNX (~260 KB) not
FILE_LIMIT = 64 * 1024


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Files of this process (every thread: the server's too) may not grow past ``limit`` bytes meanwhile; SIGXFSZ,
    which by default ends the process, ignored: the write fails with EFBIG instead."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if hard != resource.RLIM_INFINITY and hard < limit:
        pytest.skip(f"RLIMIT_FSIZE hard limit {hard} is below the {limit} bytes this test needs")
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


@pytest.fixture()
def low_disk(tmp_path: Path) -> Iterator[httpx.Client]:
    """A server (max_restarts 2) with the default pins folder (the workers' fork server keeps the environment of the
    first worker of this process: a pins folder set here would not reach them); the registry in
    ``tmp_path / "models"``: ``m``, and ``swap-a`` and ``swap-b`` to swap to."""
    models = tmp_path / "models"
    export(models, "m", "1.0.0", seed=1)
    for name, seed in (("swap-a", 3), ("swap-b", 4)):
        assert (export(models, name, "1.0.0", seed=seed) / "model.onnx").stat().st_size > FILE_LIMIT
    with BackgroundServer(make_settings(models, tmp_path / "recordings", max_restarts=2)) as srv, \
            httpx.Client(base_url=srv.url, timeout=60.0, headers=AUTH) as client:
        client.models = models  # type: ignore[attr-defined]
        yield client


def test_a_swap_not_copied_for_lack_of_room_restarts_on_the_registrys_same_bytes(low_disk):
    client = low_disk
    names = [unique("f15c-same"), unique("f15c-other")]
    outlets = [new_outlet(n, f"{n}-src")[0] for n in names]
    same_id, other_id = (start_running(client, n, model="m", worker="dedicated") for n in names)
    pushers = [LivePusher(o, seed=157 + i) for i, o in enumerate(outlets)]
    for p in pushers:
        p.start()
    try:
        for decoder_id in (same_id, other_id):
            st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 100, 60, "decoding")
            assert st["model"]["pinned"] is True  # a copy of m: it must not be what a restart runs after the swap
        swapped = {}
        with file_size_limit(FILE_LIMIT):  # the copies of the swapped-in models fail (EFBIG); an error file fits
            for decoder_id, name in ((same_id, "swap-a"), (other_id, "swap-b")):
                r = client.put(f"/decoders/{decoder_id}/model", json={"model": name})
                assert r.status_code == 200, r.text
                assert r.json()["model"]["pinned"] is False, r.json()["model"]
                swapped[decoder_id] = r.json()["model"]["sha256"]
        st = killed(client, same_id)  # the registry's swap-a is the bytes it ran
        assert st["state"] == "running", (st["state"], st["last_error"])  # before: error, "could not be kept"
        assert st["model"]["name"] == "swap-a" and st["model"]["sha256"] == swapped[same_id], st["model"]
        assert st["model"]["pinned"] is True  # room again: the restart copied the registry's same bytes
        replace_folder(client.models, "swap-b", "1.0.0", seed=5)  # the copy lost and the registry changed
        st = killed(client, other_id)
        assert st["state"] == "error", (st["state"], st["model"])  # never other bytes under its id
        assert f"swap-b@1.0.0 (sha256 {swapped[other_id]})" in st["last_error"], st["last_error"]
        assert "POST the decoder again" in st["last_error"], st["last_error"]
    finally:
        for p in pushers:
            p.halt.set()
            p.join()
    for decoder_id in (same_id, other_id):
        assert client.delete(f"/decoders/{decoder_id}").status_code == 200
