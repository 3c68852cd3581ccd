"""A reader of the output ring never returns a row mixed from two writes, even when the writer laps it while it
copies (the position a lapped, slow reader lands on): the writer's ``pending`` head is stored before it touches a
slot, and the reader drops (and counts) every row that ``pending`` covers. A deterministic mid-write case, and a
short stress with a real writer process (rows ``y == seq``), both ring kinds."""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np
import pytest

from bci_stream.service.ring import OutputRing

CAPACITY, N_OUT, CHUNK = 64, 64, 8


def rows_of(seq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seq = seq.astype(np.float64)
    return seq, seq * 1e-3, np.repeat(seq[:, None], N_OUT, axis=1)


def torn(rows: np.ndarray) -> int:
    """Rows whose timestamp or outputs do not belong to their seq."""
    return int(((rows[:, 3:] != rows[:, [0]]).any(axis=1) | (rows[:, 1] != rows[:, 0] * 1e-3)).sum())


def test_rows_the_writer_is_overwriting_are_dropped_not_returned_half_written():
    """The writer announced 8 rows (pending) and wrote half of the first slot when the reader copies: the 8 slots
    it will overwrite are dropped and counted, the other rows come back whole."""
    ring = OutputRing.create(mp.get_context("spawn"), capacity=CAPACITY, n_outputs=N_OUT)
    reader = ring.reader(from_now=False)
    seq, ts, y = rows_of(np.arange(CAPACITY))
    ring.write(seq, ts, 0, y)
    ring._head[1] = ring.head + CHUNK  # what write() stores before it overwrites the slots of rows 0..7
    ring._rows[0, 0] = CAPACITY  # the first of those slots half written: the new seq, the old outputs
    rows = reader.read()
    np.testing.assert_array_equal(rows[:, 0], np.arange(CHUNK, CAPACITY))
    assert torn(rows) == 0 and reader.dropped == CHUNK and reader.cursor == CAPACITY


def test_a_write_larger_than_the_ring_in_progress_counts_each_lost_row_once():
    ring = OutputRing.create(mp.get_context("spawn"), capacity=8, n_outputs=1)
    reader = ring.reader()
    seq, ts, _ = rows_of(np.arange(4))
    ring.write(seq, ts, 0, seq[:, None])
    ring._head[1] = ring.head + 20  # a 20-row burst being written
    assert len(reader.read()) == 0 and reader.dropped == 16
    seq, ts, _ = rows_of(np.arange(4, 24))
    ring._head[1] = 4
    ring.write(seq, ts, 0, seq[:, None])  # the burst lands
    rows = reader.read()
    np.testing.assert_array_equal(rows[:, 0], np.arange(16, 24))
    assert reader.dropped == 16


def _writer(handles, stop) -> None:
    ring, s = OutputRing(handles), 0
    while not stop.is_set():
        seq, ts, y = rows_of(np.arange(s, s + CHUNK))
        ring.write(seq, ts, 0, y)
        s += CHUNK


@pytest.mark.parametrize("named", [False, True], ids=["inherited", "named"])
def test_a_lapped_reader_racing_a_writer_process_gets_whole_rows_in_order(named):
    """A writer process writes as fast as it can into a 64-row ring; the reader, lapped at nearly every read,
    checks every row it gets for 2 s (and on until it was lapped): whole rows, seq strictly increasing, every row read
    or counted dropped."""
    ctx = mp.get_context("spawn")
    ring = OutputRing.create_named(CAPACITY, N_OUT) if named else OutputRing.create(ctx, CAPACITY, N_OUT)
    stop = ctx.Event()
    proc = ctx.Process(target=_writer, args=(ring.handles, stop), daemon=True)
    proc.start()
    try:
        reader = ring.reader()
        first = reader.cursor
        n_read = n_torn = n_back = 0
        last = first - 1
        # 2 s, and on until the reader has read and been lapped (a loaded machine may start the writer late), at most
        # 120 s: the race must be exercised, however slow the machine
        t_end, t_give_up = time.monotonic() + 2.0, time.monotonic() + 120.0
        while time.monotonic() < t_end or ((n_read == 0 or reader.dropped == 0) and time.monotonic() < t_give_up):
            rows = reader.read(2000)
            if len(rows):
                n_read += len(rows)
                n_torn += torn(rows)
                n_back += int((np.diff(rows[:, 0]) <= 0).sum()) + int(rows[0, 0] <= last)
                last = rows[-1, 0]
            time.sleep(0.0002)
    finally:
        stop.set()
        proc.join(10)
        if named:
            ring.unlink()
    assert reader.dropped > 0  # the race was exercised: the reader was lapped
    assert (n_torn, n_back) == (0, 0), f"{n_torn} torn rows, {n_back} seq steps back among {n_read} rows"
    assert reader.cursor - first == n_read + reader.dropped  # every row read or counted dropped
    assert last <= reader.cursor - 1  # (a last read whose rows were all lapped moves the cursor past ``last``)
