"""A Ray actor's loss accounting reaches the API's ring and its successor (service/unsettled.py, audit s53fuzz F2b).

A Ray actor writes its outputs into a ring of its own, which a relay thread copies to the API's ring every 20 ms; a
restarted actor's ring is seeded from the API's. Where the accounting stood (a suspected loss still judged) travels the
same way: with the rows, and in the seed. Real rings in shared memory and a real pipe; no Ray (the actor and backend
code paths are plain functions: the Ray cluster tests run the rest, tests/integration/test_ray_backend.py).
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing import Pipe
from types import SimpleNamespace

import numpy as np

from bci_stream.core.status import Counters
from bci_stream.lsl.gaps import GapTracker
from bci_stream.service.backends.ray_actor import OutputRelay, seed_ring
from bci_stream.service.backends.ray_backend import RayBackend
from bci_stream.service.ring import OutputRing
from bci_stream.service.unsettled import resume_gaps

CTX = mp.get_context("spawn")


def write(ring: OutputRing, first: int, n: int) -> None:
    seq = np.arange(first, first + n, dtype=np.float64)
    ring.write(seq, 1000.0 + seq / 100, 1, np.zeros((n, ring.n_outputs)))


def test_the_relay_carries_the_accounting_with_the_rows_and_alone_when_it_changes():
    actor, api = OutputRing.create(CTX, 64, 2), OutputRing.create(CTX, 64, 2)
    here, there = Pipe()
    relay = OutputRelay(actor, here)
    handle = SimpleNamespace(ring=api)
    write(actor, 0, 10)
    actor.note_unsettled(1000.05, first_seq=6)  # a window opened at seq 6: samples up to stamp 1000.05 accounted for
    relay.flush()
    RayBackend._write_rows(handle, there.recv_bytes())
    assert api.head == 10 and api.last_seq() == 9 and api.unsettled() == (1000.05, 6)
    relay.flush()
    assert not there.poll(0.1)  # nothing new: nothing sent
    actor.note_unsettled(None)  # judged (a stall counted it): no row, the change alone
    relay.flush()
    RayBackend._write_rows(handle, there.recv_bytes())
    assert api.head == 10 and api.unsettled() is None


def test_a_restarted_actor_s_ring_is_seeded_with_the_accounting_and_its_tracker_resumes_from_it():
    api = OutputRing.create(CTX, 64, 2)
    write(api, 0, 10)
    api.note_unsettled(1000.05, first_seq=6)
    seed = (api.last_seq(), api.last_timestamp(), api.last_state_epoch(), True, api.unsettled())
    actor = OutputRing.create(CTX, 64, 2)
    seed_ring(actor, seed)
    assert actor.last_seq() == 9 and actor.last_timestamp() == api.last_timestamp() and actor.unsettled() == seed[4]
    gaps = GapTracker(100.0, 0.5)
    resume_gaps(actor, gaps, offset=0.0)
    assert gaps.count == 4 and gaps.last_ts == 1000.05  # seq 6..9 came after the stamp the accounting stood at
    c = Counters()
    gaps.split(1000.05 + np.arange(25, 75) / 100.0, c)  # 20 lost after those 4: (samples 5..24 after the stamp)
    assert c.samples_lost == 20 and c.gaps == 1


def test_a_seed_with_no_output_yet_notes_the_owed_stamp():
    actor = OutputRing.create(CTX, 64, 2)
    seed_ring(actor, (None, 1234.5, None, None, None))
    assert actor.owed_after() == 1234.5 and actor.head == 0
