"""Stamps liblsl deduced from 0 (a connection begun inside a pushed chunk): found, held until a stamped sample comes,
stamped back from it at the nominal rate; every row kept, in order. First on arrays, then on real LSL inlets that
subscribe while the sender pushes large chunks (without :class:`ZeroStartStamps`, some of them get 0.002, 0.004,
...)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pylsl

from bci_stream.lsl.liblsl import ChunkPuller
from bci_stream.lsl.zero_stamps import HOLD_MAX_S, ZeroStartStamps
from support.common import unique
from support.lsl import liblsl_deduced

SFREQ = 500.0
P = 1.0 / SFREQ


def deduced(n: int) -> np.ndarray:
    """liblsl's stamps of ``n`` deduced samples at a connection's start at :data:`SFREQ`."""
    return liblsl_deduced(n, SFREQ)


def rows(ts: np.ndarray, first: int = 0) -> np.ndarray:
    """A 2-channel chunk whose first channel numbers the rows (to check order and that none is lost)."""
    return np.column_stack([np.arange(first, first + len(ts)), np.zeros(len(ts))]).astype(np.float32)


def test_a_run_before_a_stamped_sample_is_stamped_back_from_it():
    t0 = 40000.0
    ts = np.concatenate([deduced(7), t0 + np.arange(5) * P])
    zero = ZeroStartStamps(SFREQ, 512)
    assert zero.starts(ts)
    x, got = zero.take(rows(ts), ts)
    np.testing.assert_allclose(got, t0 + np.arange(-7, 5) * P, rtol=0, atol=1e-9)
    assert zero.restamped == 7 and x[:, 0].tolist() == list(range(12))


def test_a_run_inside_a_chunk_mid_stream_is_stamped_back_and_the_rest_kept():
    """A re-subscription mid-stream (liblsl recovered the connection): the run follows stamps of the sender's."""
    before, after = 100.0 + np.arange(4) * P, 200.0 + np.arange(3) * P
    ts = np.concatenate([before, deduced(3), after])
    zero = ZeroStartStamps(SFREQ, 512)
    x, got = zero.take(rows(ts), ts)
    np.testing.assert_allclose(got, np.concatenate([before, 200.0 - np.arange(3, 0, -1) * P, after]), atol=1e-9)
    assert zero.restamped == 3 and len(x) == 10


def test_a_run_that_ends_the_chunk_is_held_until_the_next_stamped_sample():
    zero = ZeroStartStamps(SFREQ, 512)
    first = deduced(20)
    x, got = zero.take(rows(first), first)
    assert len(got) == 0 and len(x) == 0 and zero.restamped == 0  # nothing handed on yet
    second = np.concatenate([deduced(25)[20:], 300.0 + np.arange(15) * P])  # the run goes on, then a stamp
    x, got = zero.take(rows(second, 20), second)
    np.testing.assert_allclose(got, 300.0 + np.arange(-25, 15) * P, rtol=0, atol=1e-9)
    assert zero.restamped == 25 and x[:, 0].tolist() == list(range(40))


def test_what_is_released_beyond_max_samples_comes_at_the_next_call():
    zero = ZeroStartStamps(SFREQ, 8)
    ts = np.concatenate([deduced(10), 50.0 + np.arange(3) * P])
    x1, t1 = zero.take(rows(ts), ts)
    x2, t2 = zero.take(rows(ts)[:0], ts[:0])
    assert (len(t1), len(t2), zero.ready) == (8, 5, None)
    np.testing.assert_allclose(np.concatenate([t1, t2]), 50.0 + np.arange(-10, 3) * P, rtol=0, atol=1e-9)
    assert np.concatenate([x1, x2])[:, 0].tolist() == list(range(13))


def test_a_sender_whose_own_clock_starts_at_zero_keeps_its_stamps():
    """Its second sample is stamped 1/sfreq too; the stamps placed back from its next ones are its own."""
    ts = np.arange(200) * P  # 0, 1/sfreq, ... as such a sender computes them
    zero = ZeroStartStamps(SFREQ, 512)
    x, got = zero.take(rows(ts), ts)
    np.testing.assert_allclose(got, ts, rtol=0, atol=1e-12)
    assert len(x) == 200
    assert zero.restamped == 0  # its own stamps, not counted as deduced ones, nor warned about (audit s70lsl F3)
    own = (1 + np.arange(1410)) / 250.0  # a 250 Hz sender stamping n/sfreq from 1/sfreq, in chunks of 10
    zero, said = ZeroStartStamps(250.0, 512), 0
    for lo in range(0, len(own), 10):
        _, got = zero.take(rows(own[lo:lo + 10]), own[lo:lo + 10].copy())
        said += zero.restamped
    assert said == 0


def test_stamps_of_the_sender_are_not_touched():
    ts = 1234.5 + np.arange(50) * P
    assert not ZeroStartStamps(SFREQ, 512).starts(ts) and not ZeroStartStamps(SFREQ, 512).starts(ts[:1])


def test_inlets_that_subscribe_while_large_chunks_are_pushed_get_the_senders_stamps():
    """The sender pushes 2,000-sample chunks back to back, stamped on its schedule (the first channel numbers the
    samples); inlets open until two connections began inside a chunk (5 of 40 did without this, session 56). Every
    stamp pulled is the schedule's (those placed back exactly so: the sender's chunks are on its schedule)."""
    name, n_chans, chunk = unique("zerosub"), 4, 2000
    # double64: the sample numbers stay exact (float32 holds integers to 2**24, which the sender passes in seconds)
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", n_chans, SFREQ, pylsl.cf_double64, f"{name}-src"))
    t0, halt, pushed = pylsl.local_clock(), threading.Event(), [0]

    def push() -> None:
        while not halt.is_set():
            k = pushed[0]
            x = np.zeros((chunk, n_chans))
            x[:, 0] = np.arange(k, k + chunk)
            outlet.push_chunk(x, timestamp=t0 + (k + chunk - 1) * P)  # the last sample's stamp; liblsl deduces
            pushed[0] = k + chunk
            # only yields: the sender is inside a push most of the time, so about a third of the connections begin
            # inside a chunk (with a 1 ms pause between pushes, 1-3 in 60 on a loaded machine: too few for 2 in 200)
            time.sleep(0)

    sender = threading.Thread(target=push, daemon=True)
    sender.start()
    found = pylsl.resolve_bypred(f"name='{name}'", 1, 10.0)
    assert found
    raced = 0
    try:
        for _ in range(200):
            inlet = pylsl.StreamInlet(found[0], max_buflen=360, processing_flags=0)
            inlet.open_stream(timeout=10.0)
            puller, got_x, got_t, restamped = ChunkPuller(inlet, 512, SFREQ), [], [], 0
            deadline = time.monotonic() + 10.0
            while sum(map(len, got_t)) < 3 * chunk and time.monotonic() < deadline:
                x, ts = puller.pull(0.2)
                got_x.append(x[:, 0].copy())
                got_t.append(ts.copy())
                restamped += puller.last_restamped
            inlet.close_stream()
            raced += restamped > 0
            index, stamps = np.concatenate(got_x).astype(np.int64), np.concatenate(got_t)
            assert len(index) >= 3 * chunk and (np.diff(index) == 1).all()  # every sample, in order
            np.testing.assert_allclose(stamps, t0 + index * P, rtol=0, atol=1e-6)
            if raced >= 2:
                break
    finally:
        halt.set()
        sender.join()
    assert raced >= 2, "no connection began inside a pushed chunk in 200 tries: the case was not met"


def test_a_sender_counting_from_zero_as_liblsl_counts_is_held_at_most_hold_max_s_then_handed_on():
    """Its stamps continue the run for good: after HOLD_MAX_S of samples they go on as they came, none lost, none
    re-stamped, and later pulls pass through."""
    zero, got_x, got_t = ZeroStartStamps(SFREQ, 64), [], []
    ts = np.concatenate([[0.0], deduced(int(HOLD_MAX_S * SFREQ) + 200)])
    for i in range(0, len(ts), 50):  # pulls of 50, and empty pulls while rows wait to be handed on
        for x, t in (zero.take(rows(ts[i:i + 50], i), ts[i:i + 50]), zero.take(rows(ts[:0]), ts[:0])):
            got_x.append(x)
            got_t.append(t)
            assert zero.restamped == 0
    while zero.ready is not None:
        x, t = zero.take(rows(ts[:0]), ts[:0])
        got_x.append(x)
        got_t.append(t)
    assert zero.held is None
    np.testing.assert_array_equal(np.concatenate(got_t), ts)
    assert np.concatenate(got_x)[:, 0].tolist() == list(range(len(ts)))
    assert not zero.starts(ts[-50:])  # what follows is not looked at again


def test_a_held_run_that_another_run_follows_is_stamped_on_from_the_stamp_before_it():
    """The connection ended while a run was held, and the next one began inside a chunk too: the sample after the
    first run is no stamp of the sender's (before: the first run was stamped back from 0.002, below 0)."""
    zero, before = ZeroStartStamps(SFREQ, 512), 500.0
    first, second = deduced(25), deduced(6)
    x1, t1 = zero.take(rows(first), first, prev=before)
    assert len(t1) == 0  # held
    ts = np.concatenate([second, 520.0 + np.arange(4) * P])
    x2, t2 = zero.take(rows(ts, 25), ts, prev=before)
    want = np.concatenate([before + np.arange(1, 26) * P, 520.0 - np.arange(6, 0, -1) * P, 520.0 + np.arange(4) * P])
    np.testing.assert_allclose(t2, want, rtol=0, atol=1e-9)
    assert zero.restamped == 31 and x2[:, 0].tolist() == list(range(35)) and (np.diff(t2) > 0).all()


def test_a_run_placed_back_would_precede_the_stamp_before_it_is_spread_up_to_the_next_or_goes_on_from_it():
    """The next stamp of the sender's lies 5 periods after the one handed on before a run of 25: the run is placed
    between the two, in order, not back past the first."""
    zero, before = ZeroStartStamps(SFREQ, 512), 700.0
    ts = np.concatenate([deduced(25), before + 5 * P + np.arange(3) * P])
    x, got = zero.take(rows(ts), ts, prev=before)
    assert (np.diff(np.concatenate([[before], got])) > 0).all() and got[25] == before + 5 * P
    np.testing.assert_allclose(got[:25], before + 5 * P * np.arange(1, 26) / 26, rtol=0, atol=1e-9)
    assert zero.restamped == 25 and len(x) == 28
    # the next stamp steps back (the sender's clock did): the run goes on from the stamp before
    ts = np.concatenate([deduced(25), before - 9.0 + np.arange(3) * P])
    x, got = ZeroStartStamps(SFREQ, 512).take(rows(ts), ts, prev=before)
    np.testing.assert_allclose(got, np.concatenate([before + np.arange(1, 26) * P, ts[25:]]), rtol=0, atol=1e-9)


def test_a_run_with_nothing_known_around_it_is_handed_on_as_it_came():
    """No stamp handed on before it, and another run after it: nothing tells where it lies (the second run is placed
    back from the stamp after it, as any)."""
    zero = ZeroStartStamps(SFREQ, 512)
    ts = np.concatenate([deduced(4), deduced(3), 900.0 + np.arange(2) * P])
    x, got = zero.take(rows(ts), ts)
    np.testing.assert_allclose(got, np.concatenate([deduced(4), 900.0 + np.arange(-3, 2) * P]), rtol=0, atol=1e-9)
    assert zero.restamped == 3 and len(x) == 9


def test_a_flush_hands_on_what_is_held_the_run_stamped_on_from_the_stamp_before():
    """The stream ends with a run held (no stamped sample will follow): the rows released before, then the run, stamped
    on from the last of them or from the stamp handed on before; with nothing before, as it came."""
    zero = ZeroStartStamps(SFREQ, 8)
    ts = np.concatenate([deduced(10), 50.0 + np.arange(3) * P, deduced(5)])
    x1, t1 = zero.take(rows(ts), ts)  # 8 handed on, 5 released, 5 held
    assert zero.pending() == 10
    x2, t2 = zero.flush(prev=float(t1[-1]))
    np.testing.assert_allclose(np.concatenate([t1, t2]), 50.0 + np.arange(-10, 8) * P, rtol=0, atol=1e-9)
    assert np.concatenate([x1, x2])[:, 0].tolist() == list(range(18)) and zero.restamped == 5
    assert zero.pending() == 0 and zero.flush(prev=60.0) is None
    zero.take(rows(deduced(4)), deduced(4), prev=70.0)
    np.testing.assert_allclose(zero.flush(prev=70.0)[1], 70.0 + np.arange(1, 5) * P, rtol=0, atol=1e-9)
    zero.take(rows(deduced(4)), deduced(4))
    np.testing.assert_array_equal(zero.flush(prev=None)[1], deduced(4))
    assert zero.restamped == 0


def test_a_reopened_sources_puller_hands_on_the_run_the_previous_inlets_puller_held():
    """A source lost and reopened (a new inlet): the rows the old puller held back come first from the new one's,
    placed back from the new connection's first stamp (before: dropped with the old puller, counted lost)."""
    name, n_chans = unique("zerocarry"), 2
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", n_chans, SFREQ, pylsl.cf_double64, f"{name}-src"))
    found = pylsl.resolve_bypred(f"name='{name}'", 1, 10.0)
    assert found
    inlets = [pylsl.StreamInlet(found[0], max_buflen=360, processing_flags=0) for _ in range(2)]
    for inlet in inlets:
        inlet.open_stream(timeout=10.0)
    try:
        old = ChunkPuller(inlets[0], 512, SFREQ)
        t0 = pylsl.local_clock()
        outlet.push_sample([0.0, 0.0], t0)
        x, ts = old.pull(5.0)
        run = deduced(10)
        old._zero.take(rows(run, 1).astype(np.float64), run, prev=float(ts[-1]))  # a run held at the connection's end
        assert old._zero.held is not None and (len(ts), ts[0]) == (1, t0)
        inlets[0].close_stream()
        new = ChunkPuller(inlets[1], 512, SFREQ, follows=old)
        dropped = 0
        for _ in range(10):  # drop what the second inlet got before (the first sample)
            dropped += len(inlets[1].pull_chunk(timeout=1.0)[1])
            if dropped:
                break
        assert dropped == 1, dropped
        outlet.push_chunk(np.column_stack([np.arange(11, 14), np.zeros(3)]), timestamp=t0 + 3.0 + 2 * P)  # the last's
        got_x, got_t, restamped = [], [], 0
        while sum(map(len, got_t)) < 13:
            x, ts = new.pull(5.0)
            assert len(ts), "the carried run and the new samples did not come"
            got_x.append(x[:, 0].copy())
            got_t.append(ts.copy())
            restamped += new.last_restamped  # the new samples may come in more than one pull
        stamps = np.concatenate(got_t)
        assert np.concatenate(got_x).tolist() == list(range(1, 14)) and restamped == 10
        np.testing.assert_allclose(stamps, t0 + 3.0 + np.arange(-10, 3) * P, rtol=0, atol=1e-6)
        assert old._zero.held is None
    finally:
        for inlet in inlets:
            inlet.close_stream()
