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


def test_a_swap_to_the_same_net_carded_in_volts_carries_the_filter_state(tmp_path):
    """One net exported twice, its card in µV (standardised by 5-15 µV) and in V (the same statistics in V): the
    filters are the same, so the swap carries their state, converted. Before, the cards' preprocessing differed by
    their mean and std (which run after the filters) and the filters restarted at the swap: outputs up to 0.079 off
    for 0.2 s (audit s67eng F6)."""
    import torch

    from bci_stream.dsp.preprocess import PreprocessingConfig
    from bci_stream.train.export.onnx_export import export_model
    from bci_stream.train.nets.rnn import CausalRNN
    from support.common import TINY_CH_NAMES

    rng = np.random.default_rng(0)
    mean, std = rng.normal(0, 0.1, len(TINY_CH_NAMES)), rng.uniform(5, 15, len(TINY_CH_NAMES))
    for name, unit, per in (("net-uv", "microvolts", 1.0), ("net-v", "volts", 1e-6)):
        torch.manual_seed(0)
        net = CausalRNN(len(TINY_CH_NAMES), 3, hidden_size=16, n_layers=1, cell="gru")
        pre = PreprocessingConfig(bandpass=(1.0, 40.0), notch=50.0, car=True, mean=(mean * per).tolist(),
                                  std=(std * per).tolist())
        export_model(net, tmp_path / name, name=name, version="1.0.0", ch_names=TINY_CH_NAMES, sfreq=TINY_SFREQ,
                     output_labels=["rest", "left", "right"], preprocessing=pre, unit=unit, parity_samples=200)
    reg = ModelRegistry(tmp_path)
    uv, v = reg.get("net-uv"), reg.get("net-v")
    assert uv.card.preprocessing != v.card.preprocessing  # their statistics, in their units

    def decoder(entry, scale: float) -> StreamDecoder:
        dec = StreamDecoder(StepModel(entry.onnx_path, entry.card), None, TINY_SFREQ, DecoderOptions(), Counters(),
                            lambda *a, **k: None)
        dec.state.set_scale(scale)
        return dec

    x = test_signal(300, seed=6)  # the stream in µV
    swapped, volts = decoder(uv, 1.0), decoder(v, 1e-6)  # volts: the V card from the first sample on
    run(swapped, x[:150])
    run(volts, x[:150])
    swapped.swap(StepModel(v.onnx_path, v.card), None, scale=np.full(v.card.n_chans, 1e-6))
    after, want = filter_states(swapped), filter_states(volts)
    assert after and all(np.allclose(after[n], want[n], rtol=1e-5, atol=1e-12) for n in want), (after, want)
