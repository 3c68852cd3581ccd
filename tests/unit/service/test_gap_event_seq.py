"""The ``seq`` of a recorded ``gap`` event is the first sample after the gap (as a ``swap`` event names the first
sample of the new epoch): a gap inside a pulled chunk, a gap followed by rejected samples, and the restart gap of
a new worker generation (the first sample it decodes), dedicated and shared. Real models, a real recording."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderOptions
from bci_stream.core.status import Counters
from bci_stream.engine.step_model import StepModel
from bci_stream.io.session import read_session
from bci_stream.service.decoding import StreamDecoder
from bci_stream.service.recorder import Recorder
from bci_stream.service.slot_pool import SlotPool
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal


def recorder(path) -> Recorder:
    return Recorder(path, {"name": "in", "type": "EEG", "ch_names": list(TINY_CH_NAMES), "sfreq": TINY_SFREQ,
                           "channel_format": "float32", "source_id": "amp"},
                    {"name": "in-decoded", "labels": ["a", "b"], "sfreq": TINY_SFREQ, "source_id": "amp/decoded",
                     "model": {"name": "m", "version": "1", "sha256": "ab" * 32}}, flush_interval=0.05)


def decoder(models_dir, rec: Recorder, options: DecoderOptions, shared: bool) -> StreamDecoder:
    entry = ModelRegistry(models_dir).get("tiny-gru")
    pool = SlotPool() if shared else None
    model = pool.load(entry) if shared else StepModel(entry.onnx_path, entry.card)
    return StreamDecoder(model, None, TINY_SFREQ, options, Counters(),
                         lambda kind, **f: rec.event(0.0, kind, **f), pool)


def gap_seqs(path) -> list[int]:
    return [e["seq"] for _, e in read_session(path).events if e["event"] == "gap"]


def stamps(t0: float, n: int) -> np.ndarray:
    return t0 + np.arange(n) / TINY_SFREQ


@pytest.mark.parametrize("shared", [False, True], ids=["dedicated", "shared"])
def test_a_gap_event_names_the_first_sample_after_the_gap(models_dir, tmp_path, shared):
    """20 samples, then a chunk of 8 with a 1 s gap before its 5th (seq 24), then a chunk of 6 that starts after a
    1 s gap (seq 28): the events name 24 and 28, not the end of their chunks (28, 34)."""
    rec = recorder(tmp_path / "s.xdf")
    dec = decoder(models_dir, rec, DecoderOptions(gap_policy="reset"), shared)
    dec.decode(test_signal(20, seed=1), stamps(10.0, 20))
    ts = stamps(10.0 + 20 / TINY_SFREQ, 8)
    ts[4:] += 1.0
    assert dec.decode(test_signal(8, seed=2), ts) is not None
    assert dec.decode(test_signal(6, seed=3), stamps(ts[-1] + 1.0, 6)) is not None
    rec.close()
    assert gap_seqs(tmp_path / "s.xdf") == [24, 28]


def test_a_gap_followed_by_rejected_samples_names_the_first_pulled_one(models_dir, tmp_path):
    """nan_policy reject: the two samples right after the gap are rejected; the event still names the first
    sample after the gap (seq 4), and the decoding goes on with seq 6."""
    rec = recorder(tmp_path / "s.xdf")
    dec = decoder(models_dir, rec, DecoderOptions(gap_policy="reset", nan_policy="reject"), False)
    x = test_signal(9, seed=4)
    x[[4, 5]] = np.nan
    ts = stamps(10.0, 9)
    ts[4:] += 1.0
    _, _, seq, _, _ = dec.decode(x, ts)
    np.testing.assert_array_equal(seq, [0, 1, 2, 3, 6, 7, 8])
    rec.close()
    assert gap_seqs(tmp_path / "s.xdf") == [4]


@pytest.mark.parametrize("shared", [False, True], ids=["dedicated", "shared"])
def test_the_restart_gap_event_names_the_first_sample_of_the_new_generation(models_dir, tmp_path, shared):
    """A restarted worker carries seq on from the last published sample (3535) and counts the time since as a
    gap: its event names seq 3536, the first sample it decodes, not the end of its first (96-sample) chunk."""
    rec = recorder(tmp_path / "s.2.xdf")
    dec = decoder(models_dir, rec, DecoderOptions(gap_policy="reset"), shared)
    last_ts = 50.0
    dec.gaps.resume_after(last_ts)  # what StreamSlot.attach does for generation > 1
    dec.seq = 3535 + 1
    _, _, seq, _, _ = dec.decode(test_signal(96, seed=5), stamps(last_ts + 2.0, 96))
    assert seq[0] == 3536
    rec.close()
    assert gap_seqs(tmp_path / "s.2.xdf") == [3536]
