"""The API's handle of a freed named output ring is closed at once (its descriptor and mapping), and a reader in
another thread at that moment never crashes: its read under way ends first, later reads get no rows. Real shared
memory."""

from __future__ import annotations

import os
import threading

import numpy as np

from bci_stream.service.ring import OutputRing


def holds(name: str) -> bool:
    """This process has a descriptor or a mapping of the block ``name``."""
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    with open("/proc/self/maps") as maps:
        return any(name in t for t in fds) or any(name in line for line in maps)


def test_close_lets_go_of_the_block_while_a_reader_reads_on():
    ring = OutputRing.create_named(256, 3)
    name = ring.handles.name
    ring.write(np.arange(100.0), np.arange(100.0), 0, np.ones((100, 3)))
    reader = ring.reader(from_now=False)
    failures: list[BaseException] = []
    reads = threading.Event()

    def read_on() -> None:
        try:
            while not ring.closed:
                reader.read()
                reader.cursor = 0  # every read copies rows again
                reads.set()
            assert len(reader.read()) == 0
        except BaseException as exc:  # noqa: BLE001 - the test says what it was
            failures.append(exc)

    thread = threading.Thread(target=read_on)
    thread.start()
    assert reads.wait(30)
    ring.unlink()
    ring.close()  # before: no close, the block held until a full collection freed the ring
    thread.join(30)
    assert not failures, failures
    assert not holds(name)
    ring.close()  # twice (a decoder freed twice): nothing
    assert len(ring.reader().read()) == 0


def test_a_closed_ring_still_says_where_it_ended():
    """A final status (or a test) that asks a freed decoder's ring for its last seq, head or last timestamp gets the
    answers it had before the close (before: ``TypeError`` on the released header)."""
    ring = OutputRing.create_named(64, 2)
    ring.write(np.arange(100.0), 10.0 + np.arange(100.0), 0, np.ones((100, 2)))  # wraps: 100 rows in 64 slots
    before = (ring.head, ring.pending, ring.last_seq(), ring.last_timestamp(), ring.unwritten_seq())
    ring.unlink()
    ring.close()
    assert not holds(ring.handles.name)
    assert (ring.head, ring.pending, ring.last_seq(), ring.last_timestamp(), ring.unwritten_seq()) == before
    assert before[:4] == (100, 100, 99, 109.0)
