"""Concurrent starts of decoders of one stream and one model (concurrent ``POST /decoders``): the handle is
reserved under the twin check's lock before its worker is spawned, so all but one get their id as
``output_instance`` at start, every decoded outlet has a source_id of its own from the first, and none is
reopened by the clash net (no restart). Real LSL on loopback, a real shared worker."""

from __future__ import annotations

import threading

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.common import unique
from support.lsl import new_outlet, wait_for

N = 6


def test_concurrent_starts_of_one_stream_and_model_get_their_own_source_ids(models_dir):
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=1, shared_workers=1)
    name = unique("fixHcc")
    outlet = new_outlet(name, f"{name}-src")[0]
    card = ModelRegistry(models_dir).get("tiny-gru").card
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru", "options": {"worker": "shared"}})
    barrier, handles, errors = threading.Barrier(N), [], []

    def start() -> None:
        barrier.wait()
        try:
            handles.append(sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(N)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors and len(handles) == N
        instances = [h.spec.options.output_instance for h in handles]
        assert instances.count(None) == 1
        assert sorted(i for i in instances if i is not None) == sorted(h.id for h in handles if h.spec.options
                                                                       .output_instance is not None)
        wait_for(lambda: all(h.status.state in ("running", "stalled") for h in handles), 60, "every decoder to run")
        sids = [h.status.output_stream["source_id"] for h in handles]
        assert len(set(sids)) == N, sids
        assert all(h.restarts == 0 and h.generation <= 1 for h in handles)
        assert outlet is not None
    finally:
        sup.shutdown()
