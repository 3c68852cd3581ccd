"""What a command waiting on a worker that ended is told: a crash, or that the supervisor killed the worker as hung
(audit s68fault F4: a swap to a SIGSTOPped worker waited 60 s and was told "a crash", though hung_kill_s, 60 s too,
had killed it)."""

from __future__ import annotations

from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.requests import ended


def test_a_worker_killed_as_hung_is_said_so_and_a_crash_as_one():
    handle = DecoderHandle("ks2", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m"}))
    handle.generation = 2
    assert ended(handle, "model swap") == (
        "decoder ks2's worker ended before it answered 'model swap' (a crash: see the decoder's status): it is "
        "restarted unless its restarts are used up; retry once it is running")
    handle.silenced = (2, "its worker (pid 7) sent no status for 60 s while the decoder was running (hung; the limit "
                          "is 60 s, setting hung_kill_s): killed by the supervisor")
    assert ended(handle, "model swap").startswith(
        "decoder ks2's worker ended before it answered 'model swap' (killed as hung: its worker (pid 7) sent no status "
        "for 60 s")
    handle.silenced = (1, "an earlier generation's")  # not this worker's
    assert "(a crash: see the decoder's status)" in ended(handle, "reset")
