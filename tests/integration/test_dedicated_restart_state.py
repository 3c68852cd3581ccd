"""A dedicated worker killed mid-stream resumes from its decoder's last state snapshot, as a shared worker's streams do
(audit s67eng F5: a dedicated worker sent no snapshot, so its restart decoded from the model's initial state, filters
and recurrent state started over, while the README said the state snapshot is restored across restarts).

Real LSL on loopback, real dedicated worker processes (``kill -9``), real onnxruntime.
"""

from __future__ import annotations

import os
import signal

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.pool_messages import SavedState
from bci_stream.service.supervisor import Supervisor
from integration.test_shared_supervisor import Pusher
from support.common import unique
from support.lsl import new_outlet, wait_for


def test_kill_9_of_a_dedicated_worker_resumes_its_stream_with_its_state(models_dir):
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=1, restart_backoff=0.2)
    name = unique("dedkill")
    outlet = new_outlet(name, f"{name}-src")[0]
    pusher = Pusher(outlet, seed=300)
    card = ModelRegistry(models_dir).get("tiny-gru").card
    try:
        h = sup.start(DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru", "options": {
            "worker": "dedicated", "snapshot_interval_s": 0.2, "outputs_buffer_s": 60}}), n_outputs=card.n_outputs,
            sfreq=card.sfreq)
        wait_for(lambda: h.status.state == "running", 60, "the decoder running")
        pusher.start()
        wait_for(lambda: h.status.counters.samples_out > 500 and h.saved is not None, 60,
                 "decoding under way, with state snapshots")
        saved = h.saved
        assert isinstance(saved, SavedState) and saved.generation == 1 and saved.sha256 == h.status.model["sha256"]
        assert 0 < saved.seq <= h.status.counters.samples_out and saved.arrays  # the decoder's state, by name
        pid = h.status.worker["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: h.restarts == 1 and h.status.state == "running" and h.status.worker["pid"] != pid
                 and h.status.counters.samples_out > 200, 90, "the decoder decoding again in a new worker")
        assert h.last_error == f"worker process {pid} exited with code -9 (signal 9)"
        assert h.status.worker["kind"] == "dedicated"
        restored = h.status.worker.get("restored_seq")
        assert restored is not None and restored >= saved.seq, (restored, saved.seq)  # the last snapshot it sent
        c = h.status.counters
        assert c.gaps >= 1 and c.samples_lost > 0 and c.state_epoch == 1
    finally:
        pusher.halt.set()
        sup.shutdown()
