"""The output ring (drop-oldest fan-out), the XDF recorder and reader, and the pipeline's state handling."""

from __future__ import annotations

import multiprocessing as mp
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io.session import read_session
from bci_stream.core.registry import ModelRegistry
from bci_stream.service.ring import OutputRing
from bci_stream.service.recorder import Recorder
from bci_stream.engine.offline import decode_offline
from bci_stream.engine.step_model import StepModel
from support.common import test_signal


def ring_rows(n0: int, n: int, k: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seq = np.arange(n0, n0 + n)
    return seq, seq / 100.0, np.tile(seq[:, None], (1, k)).astype(np.float32)


def test_ring_delivers_every_row_in_order_across_wrap_around():
    ring = OutputRing.create(mp.get_context("spawn"), capacity=10, n_outputs=3)
    reader = ring.reader()
    got = []
    n0 = 0
    for size in (3, 4, 6, 1, 9, 2):
        seq, ts, y = ring_rows(n0, size)
        ring.write(seq, ts, 5, y)
        n0 += size
        got.append(reader.read())
    rows = np.concatenate(got)
    np.testing.assert_array_equal(rows[:, 0], np.arange(n0))
    np.testing.assert_array_equal(rows[:, 1], np.arange(n0) / 100.0)
    assert np.all(rows[:, 2] == 5) and np.array_equal(rows[:, 3], np.arange(n0))
    assert reader.dropped == 0 and ring.head == n0


def test_a_slow_reader_loses_the_oldest_rows_and_counts_them():
    ring = OutputRing.create(mp.get_context("spawn"), capacity=8, n_outputs=2)
    slow, fast = ring.reader(), ring.reader()
    for i in range(5):
        seq, ts, y = ring_rows(i * 5, 5, 2)
        ring.write(seq, ts, 0, y)
        fast.read()
    rows = slow.read()
    assert slow.dropped == 25 - 8 and fast.dropped == 0
    np.testing.assert_array_equal(rows[:, 0], np.arange(17, 25))
    seq, ts, y = ring_rows(25, 20, 2)  # one write larger than the ring keeps only its newest rows
    ring.write(seq, ts, 0, y)
    rows = fast.read()
    np.testing.assert_array_equal(rows[:, 0], np.arange(37, 45))
    assert fast.dropped == 12


def test_reader_from_a_late_start_sees_only_new_rows():
    ring = OutputRing.create(mp.get_context("spawn"), capacity=16, n_outputs=1)
    ring.write(*ring_rows(0, 5, 1)[:2], 0, ring_rows(0, 5, 1)[2])
    late = ring.reader()
    assert len(late.read()) == 0
    history = ring.reader(from_now=False)
    assert len(history.read()) == 5


def make_recorder(path: Path) -> Recorder:
    return Recorder(
        path,
        {"name": "in", "type": "EEG", "ch_names": ["C3", "Cz", "C4"], "sfreq": 250.0, "channel_format": "float32",
         "source_id": "amp-1"},
        {"name": "in-decoded", "labels": ["left", "right"], "sfreq": 250.0, "source_id": "amp-1/decoded/abc",
         "model": {"name": "m", "version": "1", "sha256": "ab" * 32}},
        flush_interval=0.05,
    )


def test_recorder_round_trip_and_a_crash_loses_at_most_the_unflushed_tail(tmp_path):
    path = tmp_path / "s.xdf"
    rec = make_recorder(path)
    rng = np.random.default_rng(0)
    xs, ys, tss = [], [], []
    for i in range(20):
        x = rng.standard_normal((7, 3)).astype(np.float32)
        ts = 100.0 + (np.arange(7) + 7 * i) / 250.0
        y = rng.random((7, 2)).astype(np.float32)
        rec.inputs(x, ts)
        rec.outputs(y, ts + 0.5, np.arange(7 * i, 7 * i + 7), i // 10)
        xs.append(x), ys.append(y), tss.append(ts)
    rec.event(101.0, "reset", seq=70)
    rec.clock_offset(100.0, 0.5)
    time.sleep(0.5)  # > flush_interval: everything so far is in the file
    crashed = tmp_path / "crashed.xdf"
    shutil.copy(path, crashed)
    with open(crashed, "ab") as f:  # a chunk cut short by the crash
        f.write(b"\x04\x40\x00\x00\x00\x03\x00")
    rec.close()
    with pytest.raises(FileExistsError, match="record_path must not exist"):
        make_recorder(path)
    for p in (path, crashed):
        s = read_session(p)
        np.testing.assert_array_equal(s.inputs.data.T.astype(np.float32), np.concatenate(xs))
        np.testing.assert_array_equal(s.input_timestamps, np.concatenate(tss))
        np.testing.assert_array_equal(s.outputs, np.concatenate(ys))
        np.testing.assert_array_equal(s.output_timestamps, np.concatenate(tss) + 0.5)
        np.testing.assert_array_equal(s.seq, np.arange(140))
        np.testing.assert_array_equal(s.state_epoch, np.repeat([0, 1], 70))
        assert s.inputs.ch_names == ["C3", "Cz", "C4"] and s.output_labels == ["left", "right"]
        assert s.events == [(101.0, {"event": "reset", "seq": 70})]
        assert s.clock_offsets == [(99.5, 0.5)] and s.model["name"] == "m"


def test_recorded_file_is_standard_xdf(tmp_path):
    """Any XDF reader (here pyxdf with its defaults) opens it: four streams with their headers."""
    import pyxdf

    path = tmp_path / "s.xdf"
    rec = make_recorder(path)
    rec.inputs(np.ones((4, 3), np.float32), np.arange(4.0))
    rec.outputs(np.ones((4, 2), np.float32), np.arange(4.0), np.arange(4), 0)
    rec.close()
    streams, header = pyxdf.load_xdf(str(path))
    assert header["info"]["version"] == ["1.0"]
    names = sorted(s["info"]["name"][0] for s in streams)
    assert names == ["in", "in-decoded", "in-decoded-events", "in-decoded-provenance"]


def test_pyxdf_synchronises_a_remote_senders_recording_onto_this_hosts_clock(tmp_path):
    """A sender whose clock is 50,000 s away and drifts 10 ppm: the offsets are written as LabRecorder writes them
    (collection time on the sender's clock), so pyxdf's clock synchronisation maps the input onto this host's clock
    exactly as the decoder did online (written on this host's clock, it came out 0.5 s off)."""
    import pyxdf

    path = tmp_path / "s.xdf"
    rec = make_recorder(path)
    local = 1000.0 + np.arange(0, 60.0, 0.01)  # 100 Hz, this host's clock
    offset = -50_000.0 + 1e-5 * (local - local[0])  # local = source + offset, drifting
    source = local - offset
    for t in np.arange(1000.0, 1060.0, 5.0):  # an offset measured every 5 s, as the worker does
        rec.clock_offset(t, -50_000.0 + 1e-5 * (t - 1000.0))
    rec.inputs(np.zeros((len(source), 3), np.float32), source)
    rec.close()
    streams, _ = pyxdf.load_xdf(str(path), synchronize_clocks=True, dejitter_timestamps=False)
    s_in = next(s for s in streams if s["info"]["name"][0] == "in")
    np.testing.assert_allclose(s_in["time_stamps"], local, atol=1e-3)


@pytest.mark.parametrize("model", ["tiny-gru", "tiny-lstm"])
def test_any_chunking_equals_offline_and_a_snapshot_moves_between_states(models_dir, model):
    entry = ModelRegistry(models_dir).get(model)
    x = test_signal(600, seed=4)
    sm = StepModel(entry.onnx_path, entry.card)
    state = sm.new_state()
    chunks = np.split(np.arange(600), [1, 2, 40, 41, 42, 300, 301])
    y = np.concatenate([sm.run(x[c], state) for c in chunks])
    np.testing.assert_allclose(y, decode_offline(entry, x), atol=1e-5)
    # a snapshot moves to another stream's state and continues identically
    other = sm.new_state()
    other.restore(state.snapshot())
    np.testing.assert_allclose(sm.run(x[:50], other), sm.run(x[:50], state), atol=1e-6)


def test_decay_and_reset(models_dir):
    entry = ModelRegistry(models_dir).get("tiny-gru")
    sm = StepModel(entry.onnx_path, entry.card)
    state = sm.new_state()
    sm.run(test_signal(300, seed=1), state)
    h = state.snapshot()["h0"]
    zf = state.snapshot()["zf"]
    state.decay(0.25)
    np.testing.assert_allclose(state.snapshot()["h0"], 0.25 * h, rtol=1e-6)
    np.testing.assert_array_equal(state.snapshot()["zf"], zf)  # filters are not decayed
    state.reset()
    assert not state.snapshot()["h0"].any() and "zf" not in state.snapshot() and state.pending
    # after a reset the state behaves exactly as a new one
    x = test_signal(100, seed=2)
    np.testing.assert_allclose(sm.run(x, state), decode_offline(entry, x), atol=1e-5)
