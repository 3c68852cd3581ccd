"""The ray backend: a decoder's model folder replaced in the registry, then its actor killed. The restarted actor
runs the model the decoder was running (same sha256, same decoded source_id), from the decoder's own copy, which
travels to the node as bytes (the node's copy folder here is not the supervisor's). A 1-node Ray cluster on
loopback (``ray.cluster_utils.Cluster``), a supervisor in this process (a Ray driver), real actors, real LSL."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.ray_connect import kept_signal_handlers
from bci_stream.service.model_pin import PINS_ENV
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_SFREQ, export_tiny, test_signal, unique
from support.crash_handlers import kept_crash_report
from support.lsl import new_outlet, wait_for
from support.pacing import PacedPusher

try:
    from ray.cluster_utils import Cluster
except ImportError:  # the cluster extra is not installed
    Cluster = None

pytestmark = [pytest.mark.skipif(Cluster is None, reason="Ray is not installed (pip install '.[cluster]')"),
              pytest.mark.timeout(400)]


def test_a_restarted_actor_runs_the_model_the_decoder_ran(models_dir: Path, tmp_path: Path, request, monkeypatch):
    models, node_pins, serve_pins = tmp_path / "models", tmp_path / "node-pins", tmp_path / "serve-pins"
    shutil.copytree(models_dir / "tiny-gru", models / "tiny-gru")
    with kept_crash_report(request.config):  # the supervisor's Ray driver here turns faulthandler off
        cluster = Cluster()
        try:
            monkeypatch.setenv(PINS_ENV, str(node_pins))  # the node's processes inherit it from here
            with kept_signal_handlers():  # Ray's head leaves its SIGTERM handler (sys.exit) in this xdist worker
                cluster.add_node(num_cpus=1, object_store_memory=100 * 2**20, node_ip_address="127.0.0.1",
                                 include_dashboard=False)
            monkeypatch.setenv(PINS_ENV, str(serve_pins))  # the supervisor's own folder: not the node's
            _restart_after_replacement(cluster, models, node_pins, serve_pins)
        finally:
            cluster.shutdown()


def _restart_after_replacement(cluster, models: Path, node_pins: Path, serve_pins: Path) -> None:
    sup = Supervisor(str(models), status_interval=0.1, restart_backoff=0.1, backend="ray",
                     backend_options={"address": cluster.address, "listen_host": "127.0.0.1", "start_timeout": 90})
    name = unique("ray-pin")
    outlet, _ = new_outlet(name, f"{name}-src")
    pusher = PacedPusher(outlet, test_signal(300 * int(TINY_SFREQ), seed=22), TINY_SFREQ)
    try:
        spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru"})
        handle = sup.start(spec, n_outputs=3, sfreq=TINY_SFREQ)
        pusher.start()
        wait_for(lambda: handle.status.state == "running" and handle.status.counters.samples_out > 200, 120,
              "the actor to decode")
        sha, source_id = handle.status.model["sha256"], handle.status.output_stream["source_id"]
        assert handle.status.model["pinned"] is True and (serve_pins / handle.id).is_dir()
        staging = models.parent / "staging"
        export_tiny(staging, "tiny-gru", "gru", seed=23)  # same name and version, other weights
        shutil.rmtree(models / "tiny-gru")
        shutil.move(str(staging / "tiny-gru"), str(models / "tiny-gru"))
        os.kill(killed := handle.status.worker["pid"], signal.SIGKILL)
        # one moment's view (the API's): read field by field, the restart's count came with the dead actor's status
        wait_for(lambda: (v := sup.snapshot(handle)).restarts == 1 and v.status.state == "running"
                 and v.status.worker["pid"] != killed and v.status.counters.samples_out > 200, 120,
                 "the restarted actor to decode")
        status = sup.snapshot(handle).status
        assert status.model["sha256"] == sha and status.model["registry_now"]["sha256"] != sha
        assert status.output_stream["source_id"] == source_id
        assert (node_pins / handle.id).is_dir()  # the copy's bytes travelled to the node
        sup.stop(handle.id)
        assert not (serve_pins / handle.id).exists()
    finally:
        pusher.halt.set()
        sup.shutdown()
