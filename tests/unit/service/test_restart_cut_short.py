"""A restart (a Ray actor waiting for its placement) ended because the service shuts down or the decoder is deleted is
not a failed restart: nothing is retried, nothing counted, no ERROR line (review s61 F4: before, each such end was
retried with a new actor until the restarts were used up, and the decoder ended in ``error`` during the shutdown).
The real supervisor's judgement (its monitor thread idle), a real failed start for comparison."""

from __future__ import annotations

import logging

import pytest

from bci_stream.core.errors import DecoderStoppingError, ServiceEndingError
from bci_stream.core.spec import DecoderSpec
from bci_stream.core.status import WorkerStatus
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.backends.starts import WorkerStartFailed
from support.idle_supervisor import idle_supervisor


def restarting() -> DecoderHandle:
    handle = DecoderHandle("cut", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m"}), backend="ray")
    handle.status, handle.last_error = WorkerStatus(state="starting"), "worker process 7 exited with code 1"
    handle.restarts = handle.recent_restarts = 1
    return handle


@pytest.mark.parametrize("exc", [ServiceEndingError("decoder cut was not started: the service is shutting down"),
                                 DecoderStoppingError("decoder cut was stopped (DELETE) while this request started it")])
def test_a_restart_cut_short_by_the_shutdown_or_a_delete_is_not_counted(tmp_path, caplog, exc):
    caplog.set_level("INFO", logger="bci_stream.supervisor")
    with idle_supervisor(tmp_path, max_restarts=3) as sup:
        handle = restarting()
        sup._start_failed(handle, exc)
        assert (handle.restarts, handle.restart_at, handle.status.state) == (1, None, "starting")
        assert handle.last_error == "worker process 7 exited with code 1"
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        failed = restarting()  # a start that failed on its own: retried under the crash policy, as before
        sup._start_failed(failed, WorkerStartFailed("decoder cut: its Ray actor did not start within 60 s"))
        assert failed.restarts == 2 and failed.restart_at is not None and "restart 1 failed" in failed.last_error
