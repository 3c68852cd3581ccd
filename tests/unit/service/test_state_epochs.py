"""State epochs per decoded row (a gap policy inside a pulled chunk), their way into the ring and the recording,
the ``decay`` gap policy's need of a recurrent state, and the status of a decoder in ``error``.

Real exported models and onnxruntime; the shared path through a real :class:`SlotPool`.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pytest

from bci_stream.api.routers.metrics import SupervisorCollector
from bci_stream.api.views import decoder_status
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderOptions, DecoderSpec, gap_policy_refusal
from bci_stream.core.status import Counters, WorkerStatus
from bci_stream.engine.step_model import StepModel
from bci_stream.io.session import read_session
from bci_stream.service.backends.handle import DecoderHandle
from bci_stream.service.decoding import StreamDecoder
from bci_stream.service.recorder import Recorder
from bci_stream.service.reporter import StatusReporter
from bci_stream.service.ring import OutputRing
from bci_stream.service.slot_pool import SlotPool
from bci_stream.service.status_channel import StatusSender
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal

GAP_AT = 4  # the chunk's 5th sample comes 1 s after its 4th (a radio drop-out inside one pulled chunk)


def csp_model(root: Path) -> Path:
    """A 2-channel CSP+LDA model on two of the tiny models' channels, with their outputs (filter and estimator
    states only: no recurrent state)."""
    from bci_stream.core.preprocessing import PreprocessingConfig
    from bci_stream.train.classical.export import export_csp_lda
    from bci_stream.train.classical.params import CspLdaParams

    params = CspLdaParams(ch_names=TINY_CH_NAMES[:2], sfreq=TINY_SFREQ, preprocessing=PreprocessingConfig(),
                          filters=np.eye(2), tau_s=0.1, power_init=np.ones(2),
                          coef=np.array([[1.0, -1.0], [-1.0, 1.0], [0.5, 0.5]]), intercept=np.zeros(3),
                          labels=["rest", "left", "right"])
    export_csp_lda(params, root / "tiny-csp", name="tiny-csp", version="1.0.0")
    return root


def chunk_with_a_gap(n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    ts = 10.0 + np.arange(n) / TINY_SFREQ
    ts[GAP_AT:] += 1.0
    return test_signal(n, seed=4), ts


def new_decoder(entry, gap_policy: str, host: SlotPool | None = None) -> StreamDecoder:
    model = host.load(entry) if host is not None else StepModel(entry.onnx_path, entry.card)
    return StreamDecoder(model, None, TINY_SFREQ, DecoderOptions(gap_policy=gap_policy), Counters(),
                         lambda *a, **k: None, host)


@pytest.mark.parametrize("shared", [False, True], ids=["dedicated", "shared"])
def test_rows_decoded_before_a_gap_inside_the_chunk_keep_the_epoch_before_it(models_dir, shared):
    """gap_policy reset, a gap between the 4th and 5th sample of one chunk: the first four rows were decoded with
    the old state (epoch 0), the rest after the reset (epoch 1); the next chunk is all epoch 1."""
    entry = ModelRegistry(models_dir).get("tiny-gru")
    dec = new_decoder(entry, "reset", SlotPool() if shared else None)
    first = dec.decode(test_signal(20, seed=3), 10.0 - np.arange(20, 0, -1) / TINY_SFREQ)
    assert first is not None and list(first[4]) == [0] * 20
    x, ts = chunk_with_a_gap()
    y, ts_kept, seq, _, epochs = dec.decode(x, ts)
    np.testing.assert_array_equal(seq, np.arange(20, 28))
    np.testing.assert_array_equal(epochs, [0, 0, 0, 0, 1, 1, 1, 1])
    assert len(y) == len(epochs) == len(ts_kept) and dec.counters.state_epoch == 1
    after = dec.decode(test_signal(3, seed=5), ts[-1] + np.arange(1, 4) / TINY_SFREQ)
    np.testing.assert_array_equal(after[4], [1, 1, 1])


def test_rejected_rows_and_two_gaps_in_one_chunk_give_each_kept_row_its_epoch(models_dir):
    """nan_policy reject drops rows; two gaps in one chunk: each kept row carries the epoch it was decoded in."""
    entry = ModelRegistry(models_dir).get("tiny-gru")
    model = StepModel(entry.onnx_path, entry.card)
    dec = StreamDecoder(model, None, TINY_SFREQ, DecoderOptions(gap_policy="reset", nan_policy="reject"), Counters(),
                        lambda *a, **k: None)
    x = test_signal(9, seed=6)
    x[[1, 5]] = np.nan
    ts = 10.0 + np.arange(9) / TINY_SFREQ
    ts[3:] += 1.0
    ts[6:] += 1.0
    y, _, seq, _, epochs = dec.decode(x, ts)
    np.testing.assert_array_equal(seq, [0, 2, 3, 4, 6, 7, 8])
    np.testing.assert_array_equal(epochs, [0, 0, 1, 1, 2, 2, 2])


def test_shared_restore_at_a_restart_can_leave_the_epoch_as_the_restart_set_it(models_dir):
    """A restarted worker sets the epoch to the last published one + 1; restoring the snapshot then is that same
    change (count=False), while a client's restore (PUT /state) counts one more."""
    entry = ModelRegistry(models_dir).get("tiny-gru")
    dec = new_decoder(entry, "keep", SlotPool())
    snap = dec.state.snapshot()
    dec.counters.state_epoch = 4
    assert dec.restore(snap, entry.card.sha256, count=False) == 4
    assert dec.restore(snap, entry.card.sha256) == 5


def test_ring_and_recording_keep_one_epoch_per_row(tmp_path):
    ring = OutputRing.create(mp.get_context("spawn"), capacity=6, n_outputs=2)
    reader = ring.reader()
    seq = np.arange(8)
    ring.write(seq, seq / 100.0, np.array([0, 0, 0, 1, 1, 2, 2, 2]), np.zeros((8, 2), np.float32))
    rows = reader.read()  # the newest 6 of 8 rows (a write larger than the ring)
    np.testing.assert_array_equal(rows[:, 0], np.arange(2, 8))
    np.testing.assert_array_equal(rows[:, 2], [0, 1, 1, 2, 2, 2])
    assert ring.last_state_epoch() == 2
    rec = Recorder(tmp_path / "s.xdf",
                   {"name": "in", "type": "EEG", "ch_names": ["C3", "C4"], "sfreq": 250.0,
                    "channel_format": "float32", "source_id": "amp"},
                   {"name": "in-decoded", "labels": ["a", "b"], "sfreq": 250.0, "source_id": "amp/decoded",
                    "model": {"name": "m", "version": "1", "sha256": "ab" * 32}}, flush_interval=0.05)
    epochs = np.array([0, 0, 1, 1])
    rec.outputs(np.ones((4, 2), np.float32), np.arange(4.0), np.arange(4), epochs)
    epochs[:] = 9  # the caller's array is not kept
    rec.outputs(np.ones((2, 2), np.float32), np.arange(4.0, 6.0), np.arange(4, 6), 1)
    rec.close()
    np.testing.assert_array_equal(read_session(tmp_path / "s.xdf").state_epoch, [0, 0, 1, 1, 1, 1])


def test_decay_needs_a_recurrent_state(models_dir, tmp_path):
    reg = ModelRegistry(models_dir)
    csp = ModelRegistry(csp_model(tmp_path)).get("tiny-csp").card
    gru = reg.get("tiny-gru").card
    decay = DecoderOptions(gap_policy="decay")
    why = gap_policy_refusal(decay, csp)
    assert why is not None
    for part in ("options.gap_policy", "decay", "needs a recurrent state", "tiny-csp@1.0.0", "'csp_lda'"):
        assert part in why, (part, why)
    assert gap_policy_refusal(decay, gru) is None
    assert gap_policy_refusal(DecoderOptions(gap_policy="reset"), csp) is None


def error_handle() -> DecoderHandle:
    spec = DecoderSpec.model_validate({"stream": {"name": "x"}, "model": "m"})
    status = WorkerStatus(state="error", error="the stream came back with 32 channels",
                          stall={"kind": "silent", "reason": "no data", "since": 1.0, "seconds": 4.65})
    return DecoderHandle(id="d1", spec=spec, status=status, last_error=status.error)


def test_a_decoder_in_error_shows_no_stall_in_status_or_metrics():
    """The status of a decoder in ``error`` (set by its worker or by the supervisor) has no ``stall``, as
    ``bci_stream_stall_seconds`` is 0 for it; the worker clears it when it reports ``error``."""
    handle = error_handle()
    assert decoder_status(handle).stall is None and decoder_status(handle).last_error is not None

    class One:
        def list(self):
            return [handle]

    metric = next(m for m in SupervisorCollector(One()).collect() if m.name == "bci_stream_stall_seconds")
    assert [s.value for s in metric.samples] == [0.0]
    parent, child = mp.Pipe(duplex=False)
    sender = StatusSender(child)
    reporter = StatusReporter("d1", 1, sender, 1.0, lambda *a, **k: None)
    reporter.status.state, reporter.status.stall = "stalled", dict(handle.status.stall)
    reporter.set_state("error", "the stream came back with 32 channels")
    time.sleep(0.05)
    sender.close()
    assert reporter.status.stall is None and reporter.status.error is not None
    parent.close()
