"""A decoder's status (``GET /decoders/{id}``, ``/decoders``, ``/status``) is read as of one moment: the monitor
thread changes a decoder's restart count, exit and status together under the supervisor's lock, and the API reads
them under it too. Before, the API read them field by field: a GET while a crash was being judged could show the
restart counted (``restarts`` 1, ``restart_in_s``) with the ended worker's ``running`` status, its pid and its
model (a client waiting for ``restarts == 1 and state == "running"`` took the dead worker for the restarted one).
The real Supervisor, its restart policy and the router's function; the monitor thread stopped so that the order is
the test's."""

from __future__ import annotations

import logging
import threading

import pytest

from bci_stream.api.routers.decoders import get_decoder
from bci_stream.core.spec import DecoderSpec
from bci_stream.core.status import Counters, WorkerStatus
from bci_stream.service.backends.handle import DecoderHandle
from support.idle_supervisor import idle_supervisor


@pytest.fixture
def supervisor(tmp_path):
    with idle_supervisor(tmp_path, max_restarts=3) as sup:
        yield sup


class _ViewWhileLogged(logging.Handler):
    """Takes the decoder's status on another thread when the crash's restart is logged (the count is made, the
    status not yet changed), and gives that thread time to finish unless it waits for the lock."""

    def __init__(self, take) -> None:
        super().__init__(logging.ERROR)
        self.take, self.views, self.thread = take, [], None

    def emit(self, record: logging.LogRecord) -> None:
        if self.thread is None and "restart 1/3" in record.getMessage():
            self.thread = threading.Thread(target=lambda: self.views.append(self.take()), daemon=True)
            self.thread.start()
            self.thread.join(1.0)


def test_a_status_taken_while_a_crash_is_judged_is_the_state_before_or_after_it(supervisor):
    handle = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m"}))
    handle.status = WorkerStatus(state="running", pid=4242, model={"name": "m", "sha256": "a" * 64},
                                 counters=Counters(samples_in=500, samples_out=500))
    with supervisor._lock:
        supervisor._handles[handle.id] = handle
    seen = _ViewWhileLogged(lambda: get_decoder(handle, supervisor))
    logger = logging.getLogger("bci_stream.supervisor")
    logger.addHandler(seen)
    try:
        with supervisor._lock:  # as the monitor thread judges an end
            handle.exit_code, handle.last_error = -9, "worker process 4242 exited with code -9 (signal 9)"
            assert supervisor.policy.crashed(handle, 100.0, refused=False) == 5.0
    finally:
        logger.removeHandler(seen)
    assert seen.thread is not None, "the restart was not logged"
    seen.thread.join(10.0)
    (view,) = seen.views
    assert (view.restarts, view.state, view.last_error) == (1, "starting", handle.last_error)
    assert view.restart_in_s is not None and view.exit_code == -9
