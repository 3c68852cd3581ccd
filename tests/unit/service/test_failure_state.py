"""The state a worker reports when it fails: ``error`` (final, as the README says) only for a refusal; a crash the
supervisor restarts says ``starting``, with its error. Before, every failure said ``error`` until the worker's end was
seen: for about 1 s after a Ray node went down (audit s61ray F1), both decoders on it were in ``error`` with a message
about the local pool's fork server, and a client polling for ``error`` took them for dead.

Real LSL on loopback, real workers (run in a thread of this process) hosting a real decoder of a real stream, every
status snapshot read from their real status pipes. A worker whose parent process ended is made by giving it another
parent pid than its own (its check compares the two, as after the fork server's or the raylet's end)."""

from __future__ import annotations

import multiprocessing as mp
import threading

import pytest

from bci_stream.core.messages import Stop
from bci_stream.core.spec import DecoderSpec
from bci_stream.service.backends.ray_actor import OneStreamWorker
from bci_stream.service.pool_messages import AddStream, StreamEnded
from bci_stream.service.reporter import StatusReporter
from bci_stream.service.shared_worker import SharedWorker
from bci_stream.service.status_channel import StatusSender
from bci_stream.service.worker import DecoderWorker
from bci_stream.service.worker_entry import EXIT_REFUSED
from bci_stream.service.pool_messages import SavedState
from support.common import TINY_SFREQ, test_signal, unique
from support.lsl import new_outlet, wait_for
from support.pacing import PacedPusher


class Statuses:
    """Every status snapshot sent on a real status pipe, read as they come."""

    def __init__(self) -> None:
        self.parent, child = mp.Pipe(duplex=False)
        self.sender = StatusSender(child)
        self.seen: list = []

    def read(self) -> list:
        try:
            while self.parent.poll(0):
                if not isinstance(message := self.parent.recv()[2], SavedState):  # (a state snapshot: no status)
                    self.seen.append(message)
        except EOFError:  # the sender closed its end: everything sent was read
            pass
        return self.seen

    def states(self) -> list[str]:
        return [s.state for s in self.read()]


@pytest.mark.parametrize("kind", ["shared", "ray actor"])
def test_a_worker_whose_parent_ended_says_starting_with_why_never_error(models_dir, kind):
    name = unique("parentgone")
    pusher = PacedPusher(new_outlet(name, f"{name}-src")[0], test_signal(int(60 * TINY_SFREQ), seed=61), TINY_SFREQ)
    control_parent, control_child = mp.Pipe()
    statuses = Statuses()
    cmd_parent, cmd_child = mp.Pipe()
    worker = (SharedWorker if kind == "shared" else OneStreamWorker)(0, control_child, str(models_dir), 0.1)
    worker.where = {"kind": "ray", "pid": 1, "node_id": "4c508c959d", "hostname": "node-b"}
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru"})
    worker.add(AddStream("d1", 1, spec.model_dump_json(), cmd_child, statuses.sender.conn))
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.run()), daemon=True)
    pusher.start()
    thread.start()
    try:
        wait_for(lambda: "running" in statuses.states(), 60, "the decoder to run")
        worker._parent_pid = -1  # not this process's parent: as when the fork server (or the node's raylet) ended
        thread.join(30)
    finally:
        pusher.halt.set()
        pusher.join()
        worker.stop_requested = True
        thread.join(30)
    assert codes == [1]
    wait_for(lambda: statuses.read() and statuses.seen[-1].error, 10, "the last snapshot")
    last = statuses.seen[-1]
    assert "error" not in statuses.states(), statuses.states()
    assert last.state == "starting" and last.stall is None
    words = "the service's fork server" if kind == "shared" else "(the node's Ray raylet) ended: the node went down"
    assert "its parent process -1" in last.error and words in last.error, last.error
    if kind == "ray actor":
        assert "node 4c508c959d (node-b)" in last.error and "fork server" not in last.error, last.error
    ended = []
    while control_parent.poll(0.5):
        message = control_parent.recv()
        ended += [message.code] if isinstance(message, StreamEnded) else []
    assert ended == [1]
    cmd_parent.close()


def test_a_refused_decoder_says_error(models_dir):
    """A stream without the model's channels is refused (exit code 3, not restarted): ``error``, final."""
    name = unique("refusedstate")
    outlet = new_outlet(name, f"{name}-src", n_chans=3)[0]
    statuses = Statuses()
    cmd_parent, cmd_child = mp.Pipe()
    spec = DecoderSpec.model_validate({"stream": {"name": name}, "model": "tiny-gru"})
    worker = DecoderWorker("d1", 1, spec, str(models_dir), cmd_child, statuses.sender, 0.1)
    try:
        assert worker.run() == EXIT_REFUSED
    finally:
        cmd_parent.send(Stop())
        del outlet
    wait_for(lambda: statuses.read() and statuses.seen[-1].error, 10, "the last snapshot")
    states = statuses.states()
    assert states[-1] == "error" and "starting" not in states[states.index("connecting"):], states


@pytest.mark.parametrize(("code", "state"), [(1, "starting"), (4, "starting"), (EXIT_REFUSED, "error")])
def test_the_state_of_each_failure_and_its_recording_event(code, state):
    statuses, events = Statuses(), []
    reporter = StatusReporter("d1", 1, statuses.sender, 1.0, lambda kind, **fields: events.append((kind, fields)))
    reporter.status.state, reporter.status.stall = "stalled", {"since": 1.0, "why": "no sample"}
    reporter.set_failed(code, "why it failed")
    statuses.sender.close()
    snapshot = statuses.read()[-1]
    assert (snapshot.state, snapshot.error, snapshot.stall) == (state, "why it failed", None)
    assert events == [("error", {"error": "why it failed"})]  # a recording says what happened: an error
