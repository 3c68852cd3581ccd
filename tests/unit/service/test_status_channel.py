"""The worker's status channel: ``put`` never blocks, the newest snapshot wins, and what is sent is the
message as it was when put (it is pickled at once: later changes to the live status are not sent)."""

from __future__ import annotations

import multiprocessing as mp

from bci_stream.core.status import WorkerStatus
from bci_stream.service.status_channel import StatusSender


def test_a_put_status_is_sent_as_it_was_when_put():
    receiver, conn = mp.Pipe(duplex=False)
    sender = StatusSender(conn)
    status = WorkerStatus(pid=7)
    status.counters.samples_in = 10
    sender.put(("dec", 1, status))
    status.counters.samples_in = 99  # the live status moves on: the snapshot already taken does not
    assert receiver.poll(10)
    decoder_id, generation, sent = receiver.recv()
    assert (decoder_id, generation, sent.pid, sent.counters.samples_in) == ("dec", 1, 7, 10)
    sender.close()


def test_the_final_put_before_close_is_delivered():
    receiver, conn = mp.Pipe(duplex=False)
    sender = StatusSender(conn)
    for n in range(50):
        status = WorkerStatus(pid=1)
        status.counters.samples_out = n
        sender.put(("dec", 1, status))
    sender.close()
    last = None
    while receiver.poll(1):
        try:
            last = receiver.recv()
        except EOFError:
            break
    assert last is not None and last[2].counters.samples_out == 49
