"""A stop whose termination raises (a backend's error: a Ray actor that cannot be terminated) leaves the decoder as
it was, not ``stopping`` for ever. Found by review: the ``stopping`` state and its 409 refusals came with no way back,
so every later DELETE or command would have answered "a DELETE is in progress". The real Supervisor; its
termination made to fail, as a backend's would."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bci_stream.core.errors import DecoderStoppingError
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.handle import DecoderHandle
from support.idle_supervisor import idle_supervisor


class TerminateFailed(RuntimeError):
    pass


@pytest.fixture
def supervisor(tmp_path):
    with idle_supervisor(tmp_path, max_restarts=3) as sup:
        yield sup


def test_a_stop_that_raises_leaves_the_decoder_in_its_state_and_stoppable(supervisor):
    handle = DecoderHandle("d1", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m"}))
    handle.status = replace(handle.status, state="running")
    with supervisor._lock:
        supervisor._handles["d1"] = handle

    def fail(h, timeout):
        raise TerminateFailed("the backend could not end the worker")

    supervisor._terminate = fail
    with pytest.raises(TerminateFailed):
        supervisor.stop("d1")
    assert handle.status.state == "running" and not handle.stopping  # before: 'stopping', for ever
    supervisor._terminate = lambda h, timeout: None  # the backend answers again: the stop goes through
    final = supervisor.stop("d1")
    assert final is handle and final.status.state == "stopped" and supervisor.get("d1") is None


def test_a_second_stop_while_the_first_runs_is_refused(supervisor):
    handle = DecoderHandle("d2", DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m"}))
    with supervisor._lock:
        supervisor._handles["d2"] = handle
    seen = []

    def second_stop(h, timeout):
        with pytest.raises(DecoderStoppingError):
            supervisor.stop("d2")
        seen.append(h.status.state)

    supervisor._terminate = second_stop
    supervisor.stop("d2")
    assert seen == ["stopping"]
