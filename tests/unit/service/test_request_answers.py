"""What a control request says when its worker goes away before answering, and how a refusal is typed."""

from __future__ import annotations

import multiprocessing
import threading
from dataclasses import replace

import pytest

from bci_stream.core.errors import CommandRefusedError
from bci_stream.core.messages import Reply, SetState, SwapModel
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.requests import CommandRejectedError, send_command


def handle_with_worker(answer: bool) -> tuple[DecoderHandle, threading.Thread]:
    """A running decoder's handle whose "worker" (a thread at the other end of a real pipe) reads one command, then
    answers it with a refusal (``answer``) or closes its end without answering (as a stopped worker does)."""
    ours, theirs = multiprocessing.Pipe()

    def worker() -> None:
        command = theirs.recv()
        if answer:
            theirs.send(Reply(command.request_id, False, error="state array 'zf' must have shape (1, 8), got (1,)"))
        theirs.close()

    thread = threading.Thread(target=worker, daemon=True)
    spec = DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m"})
    handle = DecoderHandle(id="d1", spec=spec, process=thread, cmd_conn=ours)
    handle.status = replace(handle.status, state="running")
    thread.start()
    return handle, thread


@pytest.mark.parametrize("stopping", [True, False])
def test_worker_gone_before_answering_says_so(stopping: bool) -> None:
    """DELETE during a hot swap: the worker ends without an answer (EOFError, which has no text). The message says
    the decoder was stopped (or its worker ended) before it answered, not "went away during 'SwapModel': "."""
    handle, thread = handle_with_worker(answer=False)
    handle.stopping = stopping
    with pytest.raises(CommandRefusedError) as info:
        send_command(handle, SwapModel(model="m2"), timeout=10.0)
    thread.join(5)
    why = "it was stopped (DELETE)" if stopping else "its worker ended (see the decoder's status)"
    assert str(info.value) == f"decoder d1 did not answer 'SwapModel': {why} before it answered"
    assert not isinstance(info.value, CommandRejectedError)


def test_worker_refusal_is_a_rejection() -> None:
    """A refusal the worker answered is a :class:`CommandRejectedError` (the API answers a bad state with 422)."""
    handle, thread = handle_with_worker(answer=True)
    with pytest.raises(CommandRejectedError, match="must have shape"):
        send_command(handle, SetState(arrays={"zf": [0.0]}, sha256=None), timeout=10.0)
    thread.join(5)
