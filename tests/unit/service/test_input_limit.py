"""A finite value beyond ±1 V (MAX_INPUT_V), which no EEG input reaches, is a corrupt sample: handled by nan_policy as
a non-finite one, counted, its channel named. Before, it went into the filters: one sample of 1e15 µV left a classical
decoder's running power blind for 30-58 s (an audit, S002 models), and one float32 sample of 1e33 on a stream in volts
(finite until the graph scaled it by 1e6) pinned its output to one class for 81 s. Real exported models."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderOptions
from bci_stream.core.status import Counters
from bci_stream.core.units import input_limit
from bci_stream.engine.step_model import StepModel
from bci_stream.service.decoding import StreamDecoder
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal


def test_the_limit_is_one_volt_in_the_streams_own_unit():
    assert np.allclose(input_limit("microvolts", np.ones(3)), 1e6)
    assert np.allclose(input_limit("microvolts", np.array([1e6, 1e3])), [1.0, 1e3])  # a stream in V, one in mV
    assert np.allclose(input_limit("V", np.array([1e-6])), 1e6)  # a volts card read from a µV stream
    assert input_limit("counts", np.ones(2)) is None  # not a voltage: no bound


@pytest.mark.parametrize(("policy", "scale", "glitch"), [("hold", 1.0, 1e15), ("hold", 1e6, 1e33),
                                                         ("reject", 1e6, 1e33), ("zero", 1.0, -5e6)])
def test_a_value_beyond_one_volt_is_handled_as_not_finite(models_dir, policy, scale, glitch):
    entry = ModelRegistry(models_dir).get("tiny-gru")

    def decoder() -> StreamDecoder:
        dec = StreamDecoder(StepModel(entry.onnx_path, entry.card), None, TINY_SFREQ,
                            DecoderOptions(nan_policy=policy), Counters(), lambda *a, **k: None)
        dec.set_scale(np.full(len(TINY_CH_NAMES), scale))
        return dec

    x = (test_signal(1000, seed=5) / scale).astype(np.float32)  # µV, or V when scale is 1e6
    ts = 100.0 + np.arange(len(x)) / TINY_SFREQ
    corrupt, same = x.copy(), x.copy()
    corrupt[400, 2] = glitch
    same[400, 2] = np.nan  # what it is taken for
    hit, ref = decoder(), decoder()
    y = hit.decode(corrupt, ts)
    y_ref = ref.decode(same, ts)
    assert y is not None and y_ref is not None
    assert np.isfinite(y[0]).all() and np.array_equal(y[0], y_ref[0]) and np.array_equal(y[2], y_ref[2])
    c = hit.counters
    assert c.nonfinite_values == 1 and c.samples_rejected == (1 if policy == "reject" else 0), c
    assert hit.nonfinite.describe()["channels"] == {TINY_CH_NAMES[2]: 1}
    big = x.copy()
    big[400, 2] = 0.2 * 1e6 / scale  # 0.2 V: within any amplifier's range, decoded as sent
    dec = decoder()
    dec.decode(big, ts)
    assert dec.counters.nonfinite_values == 0 and dec.nonfinite.describe() is None
