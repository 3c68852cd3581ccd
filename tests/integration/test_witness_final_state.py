"""The supervisor's marker witness stops following a decoder left in its final ``error`` state (review 2, R8): its
restarts are used up, no worker of it will report again, so no window will need answering. The witness's follower of
that marker stream ends and closes its inlet (the outlet has no consumer left), and markers pushed afterwards are kept
nowhere; the decoder itself is as before (``error``, its last error, no restart pending) and is deleted as before.

Real LSL on loopback (a data outlet and a string marker outlet), a real worker (dedicated, or shared) killed with
SIGKILL under ``max_restarts=0`` (its first crash is final)."""

from __future__ import annotations

import signal

import pylsl
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.supervisor import Supervisor
from support.common import unique
from support.lsl import cue_outlet, paced_source, wait_for


@pytest.mark.parametrize("worker", ["dedicated", "shared"])
def test_a_decoder_in_its_final_error_is_no_longer_witnessed(models_dir, worker):
    sup = Supervisor(str(models_dir), status_interval=0.1, max_restarts=0, restart_backoff=0.2, shared_workers=1)
    name = unique("s20w")
    cues = cue_outlet(name)
    _, pusher = paced_source(name, 60, 20)
    card = ModelRegistry(models_dir).get("tiny-gru").card
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru", "options": {
        "worker": worker, "markers": {"stream": {"name": f"{name}-cues", "type": "Markers"}}}})
    try:
        handle = sup.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)
        wait_for(lambda: handle.status.state == "running" and sup.witness.following(handle.id) == "connected"
                 and (handle.status.markers or {}).get("state") == "connected", 60,
                 "the marker stream followed by the worker and the witness")
        (followed,) = sup.witness._followed.values()
        follower = followed.follower
        handle.process.kill()  # SIGKILL: the dedicated worker, or the shared worker hosting the decoder
        assert handle.process.join(10) is None and handle.process.exitcode == -signal.SIGKILL

        wait_for(lambda: handle.status.state == "error", 30, "the crash judged final (max_restarts 0)")
        wait_for(lambda: sup.witness.following(handle.id) is None, 10, "the witness to forget the final decoder")
        follower.join(10)
        assert not follower.is_alive()  # its thread ended, closing its inlet
        wait_for(lambda: not cues.have_consumers(), 10, "the marker outlet without a consumer (no inlet open)")
        cues.push_sample(["after"], pylsl.local_clock())
        assert sup.witness._followed == {} and sup.witness._of == {}  # nothing kept, nothing pulled:
        assert all(item[0] != "marker" for item in follower.queue)

        assert handle.status.state == "error" and handle.restart_at is None and handle.restarts == 0
        assert handle.last_error == (f"worker process {handle.process.pid} exited with code -9 (signal 9); not "
                                     "restarted (setting max_restarts is 0): it stays in error until deleted")
        assert sup.stop(handle.id) is handle and sup.get(handle.id) is None
        assert handle.status.state == "stopped"
    finally:
        pusher.halt.set()
        sup.shutdown()
