"""What a control request says when its worker goes away before answering, and how a refusal is typed."""

from __future__ import annotations

import multiprocessing
import threading
from dataclasses import replace

import pytest

from bci_stream.core.errors import CommandError, CommandRefusedError, CommandTimeoutError, DecoderNotReadyError
from bci_stream.core.messages import Reply, Reset, Retry, SetState, SwapModel
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.requests import CommandRejectedError, send_command


def handle_with_worker(answer: bool, stop_on_read: bool = False) -> tuple[DecoderHandle, threading.Thread]:
    """A running decoder's handle whose "worker" (a thread at the other end of a real pipe) reads one command, then
    answers it with a refusal (``answer``) or closes its end without answering (as a stopped worker does);
    ``stop_on_read``: a DELETE begins once the worker has read the command (``handle.stopping``)."""
    ours, theirs = multiprocessing.Pipe()
    made: list[DecoderHandle] = []

    def worker() -> None:
        command = theirs.recv()
        if command == "end":  # the test ends the stand-in worker (it read no command)
            theirs.close()
            return
        if stop_on_read:
            made[0].stopping = True
        if answer:
            theirs.send(Reply(command.request_id, False, error="state array 'zf' must have shape (1, 8), got (1,)"))
        theirs.close()

    thread = threading.Thread(target=worker, daemon=True)
    spec = DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m"})
    handle = DecoderHandle(id="d1", spec=spec, process=thread, cmd_conn=ours)
    handle.status = replace(handle.status, state="running")
    made.append(handle)
    thread.start()
    return handle, thread


@pytest.mark.parametrize("stopping", [True, False])
def test_worker_gone_before_answering_says_so(stopping: bool) -> None:
    """DELETE during a hot swap: the worker ends without an answer (EOFError, which has no text). The message says
    the decoder was stopped before it answered, not "went away during 'SwapModel': ". A worker that ended on its own
    (a crash the supervisor has not judged yet) is 409 with ``retry`` BUSY: it is restarted (found by an exploratory
    run: a lab's script following the documented retry rule gave up on a decoder about to be restarted)."""
    handle, thread = handle_with_worker(answer=False, stop_on_read=stopping)  # the DELETE begins after the send
    with pytest.raises(CommandError) as info:
        send_command(handle, SwapModel(model="m2"), timeout=10.0)
    thread.join(5)
    if stopping:
        assert str(info.value) == "decoder d1 did not answer 'model swap': it was stopped (DELETE) before it answered"
        assert isinstance(info.value, CommandRefusedError) and info.value.retry is None
    else:
        assert isinstance(info.value, DecoderNotReadyError) and info.value.retry is Retry.BUSY
        assert str(info.value).startswith("decoder d1's worker ended before it answered 'model swap' (a crash")
    assert not isinstance(info.value, CommandRejectedError)


@pytest.mark.parametrize("state", ["running", "error"])
def test_a_worker_found_ended_is_retryable_unless_the_decoder_is_in_error(state: str) -> None:
    """Its process ended, its status not yet judged (still ``running`` for up to the supervisor's poll interval): 409
    retryable (before: "has no running worker (state 'running')", not retryable). In ``error`` (final): not."""
    handle, thread = handle_with_worker(answer=False)
    handle.cmd_conn.send("end")  # the stand-in worker reads it and ends
    thread.join(5)
    handle.status = replace(handle.status, state=state)
    with pytest.raises(DecoderNotReadyError) as info:
        send_command(handle, Reset(), timeout=10.0)
    if state == "running":
        assert info.value.retry is Retry.BUSY and "restarted unless its restarts are used up" in str(info.value)
    else:
        assert info.value.retry is None and str(info.value) == "decoder d1 has no running worker (state 'error')"


def test_worker_refusal_is_a_rejection() -> None:
    """A refusal the worker answered is a :class:`CommandRejectedError` (the API answers a bad state with 422)."""
    handle, thread = handle_with_worker(answer=True)
    with pytest.raises(CommandRejectedError, match="must have shape"):
        send_command(handle, SetState(arrays={"zf": [0.0]}, sha256=None), timeout=10.0)
    thread.join(5)


def test_a_command_queued_behind_an_unanswered_one_for_its_whole_timeout_is_not_sent() -> None:
    """A hung worker: a second command waits for the first (one request at a time per worker) within its own
    timeout; when that ends first it is answered "was not sent" (504) and nothing reaches the worker, so it cannot
    take effect once the worker goes on."""
    handle, thread = handle_with_worker(answer=True)
    assert handle.request_lock.acquire()  # the first command, still waiting for its answer
    try:
        with pytest.raises(CommandTimeoutError) as info:
            send_command(handle, Reset(), timeout=0.2)
    finally:
        handle.request_lock.release()
    assert str(info.value) == ("decoder d1: 'reset' was not sent: an earlier command to its worker was still waiting "
                               "for its answer after 0.2 s (a hung worker?)")
    assert thread.is_alive()  # the stand-in worker read nothing
    handle.cmd_conn.send("end")
    thread.join(5)
