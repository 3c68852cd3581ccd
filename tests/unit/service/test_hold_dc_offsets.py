"""``nan_policy`` hold on a DC-coupled stream (electrode offsets of tens of mV, as from an amplifier in DC mode): a
channel non-finite where the guard has no finite value of it yet is held at its level, not at 0, whose step of the
offset's size the band-pass and the running powers took seconds to forget (audit s58live F1: p(fists) off by up to 0.9
for 4-9 s). At the stream's start (a NaN first sample), across a worker restart (the snapshot's held values), and
across a hot swap (each stream channel keeps its own held value, whichever model position reads it). Real exported
models, decoded by the service's StreamDecoder, alone or in a shared worker's slot table."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderOptions
from bci_stream.core.status import Counters
from bci_stream.dsp.preprocess import NonFiniteGuard
from bci_stream.engine.step_model import StepModel
from bci_stream.service.decoding import StreamDecoder
from bci_stream.service.slot_pool import SlotPool
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal

C3 = TINY_CH_NAMES.index("C3")


def dc_stream(n: int, seed: int) -> np.ndarray:
    """EEG-like samples in µV on per-channel offsets within ±30 mV."""
    offsets = np.random.default_rng(seed).uniform(-30e3, 30e3, len(TINY_CH_NAMES))
    return (test_signal(n, seed=seed) + offsets).astype(np.float32)


def decode(dec: StreamDecoder, x: np.ndarray, chunks: list[int]) -> np.ndarray:
    """``x`` through ``dec`` in pieces of ``chunks`` (the last repeated to the end)."""
    ys, i, k = [], 0, 0
    while i < len(x):
        n = chunks[min(k, len(chunks) - 1)]
        piece = x[i:i + n].copy()  # in the stream's channel order: the decoder maps it as the service does
        ys.append(dec.decode(piece, (i + np.arange(len(piece))) / TINY_SFREQ)[0])
        i, k = i + n, k + 1
    return np.concatenate(ys)


def decoder(entry, pool: SlotPool | None, chan_idx=None) -> StreamDecoder:
    model = pool.load(entry) if pool is not None else StepModel(entry.onnx_path, entry.card)
    return StreamDecoder(model, chan_idx, TINY_SFREQ, DecoderOptions(), Counters(), lambda *a, **k: None, pool)


def test_the_guard_holds_an_unseen_channel_at_its_first_finite_value_and_names_it_after_a_stand_in():
    g = NonFiniteGuard(2, "hold")
    x = g.apply(np.array([[np.nan, 1.0], [np.nan, 2.0], [5.0, 3.0]], np.float32))
    np.testing.assert_array_equal(x[:, 0], [5.0, 5.0, 5.0])  # from the chunk's start at its first finite value
    assert g.first_finite is None and g.held() == [5.0, 3.0]
    g = NonFiniteGuard(2, "hold")
    np.testing.assert_array_equal(g.apply(np.array([[np.nan, 1.0]], np.float32)), [[0.0, 1.0]])  # the stand-in
    assert g.held() == [None, 1.0] and g.first_finite is None
    g.apply(np.array([[np.inf, 1.0], [7.0, 1.0]], np.float32))
    chans, values = g.first_finite
    assert chans.tolist() == [0] and values.tolist() == [7.0]
    g.apply(np.array([[np.nan, 1.0]], np.float32))
    assert g.first_finite is None and g.held() == [7.0, 1.0]
    assert NonFiniteGuard(2, "zero").apply(np.array([[np.nan, 1.0], [3.0, 1.0]], np.float32))[0, 0] == 0.0


def test_a_swap_keeps_each_stream_channels_held_value_whichever_position_reads_it():
    g = NonFiniteGuard(3, "hold")
    g.apply(np.array([[1.0, 2.0, 3.0]], np.float32))
    h = g.remapped(2, np.array([4, 5, 6]), np.array([6, 9]))  # stream channel 6 read at position 0; 9 is new
    assert h.held() == [3.0, None] and h.n_replaced == g.n_replaced
    np.testing.assert_array_equal(h.apply(np.array([[np.nan, np.nan]], np.float32)), [[3.0, 0.0]])


@pytest.mark.parametrize("shared", [False, True])
def test_a_nan_first_sample_is_held_at_the_channels_level_not_at_0(models_dir, shared):
    """C3 NaN in the stream's first sample, pulled alone: decoded as if it were held at C3's first finite value (the
    next sample), to float32 rounding; before, up to 30 mV of step into its filters."""
    entry = ModelRegistry(models_dir).get("tiny-gru")
    x = dc_stream(1500, seed=11)
    nan_first, want = x.copy(), x.copy()
    nan_first[0, C3] = np.nan
    want[0, C3] = want[1, C3]
    y = decode(decoder(entry, SlotPool() if shared else None), nan_first, [1, 1, 16])
    ref = decode(decoder(entry, SlotPool() if shared else None), want, [1, 1, 16])
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-4)


def test_a_channel_non_finite_across_a_restart_stays_held_at_its_last_value(models_dir):
    """A shared worker restarted while C3 is NaN (electrode off): its successor restores the state snapshot and the
    held values with it, and decodes as the worker would have gone on."""
    entry = ModelRegistry(models_dir).get("tiny-gru")
    x = dc_stream(1500, seed=12)
    x[600:1100, C3] = np.nan
    pool = SlotPool()
    first = decoder(entry, pool)
    decode(first, x[:800], [16])
    arrays, held = first.state.snapshot(), first.guard.held()
    went_on = decode(first, x[800:], [16])
    restarted = decoder(entry, SlotPool())
    restarted.restore(arrays, entry.card.sha256, held=held)
    np.testing.assert_allclose(decode(restarted, x[800:], [16]), went_on, rtol=0, atol=1e-5)


def test_a_swap_while_a_channel_is_non_finite_holds_it_at_its_own_last_value(models_dir):
    """C3 NaN across a hot swap to a model that reads the stream's channels in another order: the new position of C3
    is held at C3's last finite value (before: at 0 on a swap to another channel count, at the value of the channel
    the old model read at that position otherwise)."""
    reg = ModelRegistry(models_dir)
    x = dc_stream(1200, seed=13)
    x[400:1000, C3] = np.nan
    order = np.arange(len(TINY_CH_NAMES))[::-1].copy()
    swapped = decoder(reg.get("tiny-gru"), None)
    decode(swapped, x[:500], [16])
    swapped.swap(StepModel(reg.get("tiny-lstm").onnx_path, reg.get("tiny-lstm").card), order)
    assert swapped.guard.held()[int(np.flatnonzero(order == C3)[0])] == pytest.approx(float(x[399, C3]))
    fresh = decoder(reg.get("tiny-lstm"), None, order)  # the new model, from the held value on
    held = x[500:].copy()
    held[:, C3] = np.where(np.isnan(held[:, C3]), x[399, C3], held[:, C3])
    np.testing.assert_allclose(decode(swapped, x[500:], [16]), decode(fresh, held, [16]), rtol=0, atol=1e-5)
