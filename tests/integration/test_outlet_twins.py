"""Two services decoding one input with one model publish one decoded source_id (audit s41, ops F5): liblsl takes the
two outlets for one stream, and a consumer resolving by source_id may read either, moved from one to the other when
the first stops. Before, neither service said so. Now the decoder started second says it in its status
(``output_stream.same_source_id``) and log (``options.output_instance`` gives one a source_id of its own). Two
supervisors (two services) in this process, real workers, real LSL on loopback."""

from __future__ import annotations

import socket

import pylsl

from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.common import TINY_SFREQ, unique
from support.lsl import new_outlet, wait_for


def start(sup: Supervisor, name: str, **options):
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru", "options": options})
    handle = sup.start(spec, n_outputs=3, sfreq=TINY_SFREQ)
    wait_for(lambda: handle.status.state in ("running", "stalled"), 60, "the decoder running")
    return handle


def test_a_second_service_decoding_the_same_input_with_the_same_model_says_so(models_dir):
    name = unique("twins")
    outlet, _ = new_outlet(name, f"{name}-src")
    first, second = Supervisor(str(models_dir), status_interval=0.1), Supervisor(str(models_dir), status_interval=0.1)
    try:
        a = start(first, name)
        b = start(second, name)  # the other service: the same input, the same model, so the same decoded source_id
        sid = a.status.output_stream["source_id"]
        assert b.status.output_stream["source_id"] == sid
        found = wait_for(lambda: (b.status.output_stream or {}).get("same_source_id"), 60, "the second one's word")
        assert f"decoded source_id {sid!r}" in found["warning"] and "options.output_instance" in found["warning"]
        assert found["others"] and {o["hostname"] for o in found["others"]} == {socket.gethostname()}
        assert all(o["name"] == f"{name}-decoded" for o in found["others"])
        own = [i.uid() for i in pylsl.resolve_bypred(f"source_id='{sid}'", 2, 10.0)]
        assert len(own) == 2 and {o["uid"] for o in found["others"]} < set(own)  # the other's uid, never its own
    finally:
        del outlet
        first.shutdown()
        second.shutdown()
