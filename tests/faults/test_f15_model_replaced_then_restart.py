"""Fault 15: the registry's folder of a running decoder's model is replaced (``calibrate --name m --overwrite``, a
copy over it), then ``kill -9`` of the worker.

Expected: the restarted worker runs the model the decoder was running, the same bytes (its sha256), from the
decoder's own copy (status ``model.pinned``; ``model.registry_now`` names what the registry holds now), into the
same decoded stream (same source_id), and its outputs go on: whether the decoder was posted with the plain name or
runs a hot-swapped ``name@version``, and when the new model has other outputs (no crash loop on the output ring).
DELETE removes the decoder's copy.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bci_stream.api.server import BackgroundServer
from bci_stream.service.model_pin import pin_dir
from faults.kit import LivePusher, make_settings, pid_gone, start_running, status
from support.common import TINY_CH_NAMES, TINY_SFREQ, unique
from support.http import wait_status
from support.lsl import new_outlet, open_output, pull_all


def export(root: Path, name: str, version: str, seed: int, n_outputs: int = 3) -> Path:
    """A random-weight model ``name@version`` exported with the real exporter into ``root/name``."""
    import torch

    from bci_stream.dsp.preprocess import PreprocessingConfig
    from bci_stream.train.export.onnx_export import export_model
    from bci_stream.train.nets.rnn import CausalRNN

    torch.manual_seed(seed)
    net = CausalRNN(len(TINY_CH_NAMES), n_outputs, hidden_size=16, n_layers=1, cell="gru", head="categorical")
    pre = PreprocessingConfig(bandpass=(1.0, 40.0), notch=50.0, car=True)
    export_model(net, root / name, name=name, version=version, ch_names=list(TINY_CH_NAMES), sfreq=TINY_SFREQ,
                 output_labels=[f"c{i}" for i in range(n_outputs)], preprocessing=pre,
                 training={"data": "random weights, fault 15"})
    return root / name


def replace_folder(root: Path, name: str, version: str, seed: int, n_outputs: int = 3) -> None:
    """Replace ``root/name`` by another model of that name, as ``calibrate --overwrite`` does (new folder, then
    the old one removed and the new one moved in its place)."""
    staging = root.parent / f"{root.name}-staging-{name}"
    export(staging, name, version, seed, n_outputs)
    shutil.rmtree(root / name)
    shutil.move(str(staging / name), str(root / name))
    shutil.rmtree(staging)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("f15-models")
    export(root, "other-m", "1.0.0", seed=5)
    return root


@pytest.fixture(scope="module")
def server(models, tmp_path_factory) -> Iterator[BackgroundServer]:
    with BackgroundServer(make_settings(models, tmp_path_factory.mktemp("recordings"), max_restarts=2)) as srv:
        yield srv


def kill_and_wait(client, decoder_id: str) -> dict:
    """``kill -9`` of the decoder's worker; its status once a new worker decodes again."""
    st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 300, 60, "decoding")
    pid, before = st["pid"], st["counters"]["samples_out"]
    os.kill(pid, signal.SIGKILL)
    st = wait_status(client, decoder_id, lambda s: s["restarts"] == 1 and s["state"] in ("running", "error")
                     and (s["state"] == "error" or s["counters"].get("samples_out", 0) > before + 300), 90,
                     "the restarted worker to decode (or fail)")
    assert pid_gone(pid)
    assert st["state"] == "running", (st["state"], st["last_error"])
    return st


@pytest.mark.parametrize("n_outputs_after", [3, 4], ids=["same-outputs", "other-outputs"])
def test_a_replaced_model_folder_does_not_change_what_a_restarted_worker_runs(client, models, worker_kind,
                                                                              n_outputs_after):
    name = unique("f15-plain")
    model = f"m{n_outputs_after}-{worker_kind}"
    export(models, model, "1.0.0", seed=1)
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, model=model, worker=worker_kind)
    consumer = open_output(f"{name}-decoded")
    pusher = LivePusher(outlet, seed=151)
    pusher.start()
    try:
        st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 200, 60, "decoding")
        sha, source_id = st["model"]["sha256"], st["output_stream"]["source_id"]
        assert st["model"]["pinned"] is True and "registry_now" not in st["model"]
        replace_folder(models, model, "1.0.1", seed=2, n_outputs=n_outputs_after)
        st = kill_and_wait(client, decoder_id)
        assert st["model"]["sha256"] == sha and st["model"]["version"] == "1.0.0"
        assert st["model"]["registry_now"]["ref"] == f"{model}@1.0.1"
        assert st["model"]["registry_now"]["sha256"] != sha
        assert st["output_stream"]["source_id"] == source_id
        assert len(st["last_output"]) == 3
    finally:
        pusher.halt.set()
        pusher.join()
    y, ts = pull_all(consumer, 200, timeout=30)
    assert len(ts) >= 200 and y.shape[1] == 3 and np.all(np.diff(ts) > 0)
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
    assert not pin_dir(decoder_id).exists()


def test_a_swapped_in_model_replaced_on_disk_is_still_run_after_a_restart(client, models):
    name = unique("f15-swap")
    export(models, "swap-m", "1.0.0", seed=3)
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, model="other-m", worker="dedicated")
    pusher = LivePusher(outlet, seed=152)
    pusher.start()
    try:
        wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 200, 60, "decoding")
        r = client.put(f"/decoders/{decoder_id}/model", json={"model": "swap-m"})
        assert r.status_code == 200, r.text
        sha, source_id = r.json()["model"]["sha256"], r.json()["output_stream"]["source_id"]
        assert r.json()["model"]["pinned"] is True and "registry_now" not in r.json()["model"]  # as after a start
        after = r.json()["counters"]["samples_out"]
        st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > after + 50, 60,
                         "a snapshot of the worker after its swap")
        assert st["model"]["sha256"] == sha and st["model"]["pinned"] is True  # its later snapshots too
        replace_folder(models, "swap-m", "1.0.1", seed=4)
        st = kill_and_wait(client, decoder_id)
        assert st["model"]["name"] == "swap-m" and st["model"]["sha256"] == sha
        assert st["request"]["model"] == "swap-m@1.0.0"  # the version that calibrate --overwrite replaced by 1.0.1:
        assert st["model"]["registry_now"]["ref"] == "swap-m@1.0.1" != st["request"]["model"]  # named (was: not found)
        assert st["model"]["registry_now"]["sha256"] != sha
        assert st["output_stream"]["source_id"] == source_id
    finally:
        pusher.halt.set()
        pusher.join()
    assert status(client, decoder_id)["state"] in ("running", "stalled")
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


def test_a_lost_copy_of_a_replaced_model_ends_in_an_error_naming_the_replacement(client, models):
    """The decoder's copy is gone (a temp folder cleaned) and the registry's model has other outputs now: the restart
    ends in ``error`` (final, one restart, no crash loop), naming the model it ran and what the registry holds."""
    name = unique("f15-lost")
    export(models, "lost-m", "1.0.0", seed=6)
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, model="lost-m", worker="dedicated")
    pusher = LivePusher(outlet, seed=153)
    pusher.start()
    try:
        st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 200, 60, "decoding")
        pid, sha = st["pid"], st["model"]["sha256"]
        replace_folder(models, "lost-m", "1.0.1", seed=7, n_outputs=4)
        shutil.rmtree(pin_dir(decoder_id))
        os.kill(pid, signal.SIGKILL)
        st = wait_status(client, decoder_id, lambda s: s["state"] == "error" and s["exit_code"] is not None, 90,
                         "the final error")
    finally:
        pusher.halt.set()
        pusher.join()
    assert st["restarts"] == 1 and st["exit_code"] == 3, st  # refused (final), not a crash
    error = st["last_error"]
    assert "was replaced on disk" in error and f"lost-m@1.0.0 (sha256 {sha})" in error, error
    assert "lost-m@1.0.1" in error and "POST the decoder again" in error, error
    # the model it ran stays in its status (audit s66model F2: null, the refusing worker's, while /metrics still
    # labelled its series lost-m; the path with no copy at all kept it)
    assert st["model"] is not None and st["model"]["sha256"] == sha, st["model"]
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200


@pytest.mark.parametrize("damage", ["files removed", "a file changed"])
def test_a_copy_whose_files_were_damaged_is_made_again_when_the_registry_holds_its_bytes(client, models, worker_kind,
                                                                                        damage):
    """The decoder's copy in the temporary folder loses its files (a cleaner such as systemd-tmpfiles removes files
    and keeps folders) or has one changed, while the registry's folder holds the same bytes; then ``kill -9``.
    Expected: the restart copies the model again and runs it (same sha256, ``pinned``). Before (audit s61life F4), the
    restart ended in ``error`` (final: "... is not a model folder: it has no model.json")."""
    name = unique("f15-damaged")
    model = f"dmg-{worker_kind}-{damage.split()[-1]}"
    export(models, model, "1.0.0", seed=6)
    outlet, _ = new_outlet(name, f"{name}-src")
    decoder_id = start_running(client, name, model=model, worker=worker_kind)
    pusher = LivePusher(outlet, seed=153)
    pusher.start()
    try:
        st = wait_status(client, decoder_id, lambda s: s["counters"].get("samples_out", 0) > 200, 60, "decoding")
        sha = st["model"]["sha256"]
        copy = next(p for p in pin_dir(decoder_id).iterdir() if p.name[0].isdigit())
        files = sorted(p for p in copy.iterdir() if p.is_file())
        assert {p.name for p in files} >= {"model.json", "model.onnx"}
        for path in files if damage == "files removed" else [copy / "model.onnx"]:
            if damage == "files removed":
                path.unlink()
            else:
                path.write_bytes(path.read_bytes()[:-16] + bytes(16))
        st = kill_and_wait(client, decoder_id)
        assert st["model"]["sha256"] == sha and st["model"]["pinned"] is True, st["model"]
        current = max((p for p in pin_dir(decoder_id).iterdir() if p.name[0].isdigit()), key=lambda p: p.name)
        assert current != copy and (current / "model.onnx").is_file() and not copy.exists()
    finally:
        pusher.halt.set()
        pusher.join()
    assert client.delete(f"/decoders/{decoder_id}").status_code == 200
