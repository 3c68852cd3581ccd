"""A hot swap between models with the same preprocessing carries the filter state over; the filters run in the card's
unit (the stream times its scale), so a card of another unit (volts after microvolts) takes that state converted.
Before, it took the microvolt state as it was: ~0.5 s of outputs from a filter state 1e6 off. Real exported models."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderOptions
from bci_stream.core.status import Counters
from bci_stream.engine.step_model import StepModel
from bci_stream.service.decoding import StreamDecoder
from bci_stream.service.slot_pool import SlotPool
from support.common import TINY_SFREQ, test_signal


def run(dec: StreamDecoder, x: np.ndarray) -> None:
    y, _, _ = dec.run_segments(x, np.arange(len(x)) / 500.0, [(0, len(x), None, 0)])
    assert y is not None and np.isfinite(y).all()


def filter_states(dec: StreamDecoder) -> dict[str, np.ndarray]:
    roles = {n: s.role for n, s in dec.state.specs.items()}
    return {n: a for n, a in dec.state.snapshot().items() if roles[n] == "filter"}


@pytest.mark.parametrize("shared", [False, True])
def test_a_swap_to_a_card_of_another_unit_converts_the_filter_state(models_dir, shared):
    entry = ModelRegistry(models_dir).get("tiny-gru")
    pool = SlotPool() if shared else None

    def decoder() -> StreamDecoder:
        model = pool.load(entry) if pool is not None else StepModel(entry.onnx_path, entry.card)
        return StreamDecoder(model, None, TINY_SFREQ, DecoderOptions(), Counters(), lambda *a, **k: None, pool)

    x = test_signal(200, seed=4)
    swapped, volts = decoder(), decoder()
    volts.state.set_scale(1e-6)  # a decoder of the volts card from the first sample: the exact continuation
    run(swapped, x[:120])
    run(volts, x[:120])
    before = filter_states(swapped)
    assert before, "the model has a filter state"
    new = pool.load(entry) if pool is not None else StepModel(entry.onnx_path, entry.card)
    swapped.swap(new, None, scale=np.full(new.n_chans, 1e-6))
    after, want = filter_states(swapped), filter_states(volts)
    for name in before:
        np.testing.assert_allclose(after[name], want[name], rtol=1e-5, atol=1e-12)
        assert not np.allclose(after[name], before[name])
    np.testing.assert_array_equal(swapped.state.scale, volts.state.scale)


def test_a_swap_to_a_card_of_the_same_unit_keeps_the_filter_state_as_it_is(models_dir):
    entry = ModelRegistry(models_dir).get("tiny-gru")
    dec = StreamDecoder(StepModel(entry.onnx_path, entry.card), None, TINY_SFREQ, DecoderOptions(), Counters(),
                        lambda *a, **k: None)
    run(dec, test_signal(120, seed=5))
    before = filter_states(dec)
    dec.swap(StepModel(entry.onnx_path, entry.card), None)
    for name, a in filter_states(dec).items():
        np.testing.assert_array_equal(a, before[name])
