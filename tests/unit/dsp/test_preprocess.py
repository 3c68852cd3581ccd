"""The preprocessor is causal and stateful: chunked processing equals one-shot processing."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from bci_stream.dsp.preprocess import NonFiniteGuard, PreprocessingConfig, Preprocessor
from support.common import test_signal

FULL = PreprocessingConfig(bandpass=(1.0, 40.0), notch=50.0, car=True, mean=[0.5] * 8, std=[10.0] * 8)


@pytest.mark.parametrize("chunks", [[1] * 300, [7] * 43 + [299], [1, 2, 3, 500, 1, 1, 1492], [2000]])
def test_chunked_equals_one_shot(chunks):
    x = test_signal(2000)
    one = Preprocessor(FULL, 8, 500.0).process(x)
    pre = Preprocessor(FULL, 8, 500.0)
    parts, i = [], 0
    for n in chunks:
        parts.append(pre.process(x[i : i + n]))
        i += n
    parts.append(pre.process(x[i:]))
    np.testing.assert_allclose(np.concatenate(parts), one, rtol=0, atol=1e-5)


def test_band_pass_removes_offset_and_line_noise_without_start_up_ringing():
    x = test_signal(5000)  # offsets up to ±500 µV, 50 Hz line noise, 10 Hz
    y = Preprocessor(PreprocessingConfig(bandpass=(1.0, 40.0), notch=50.0), 8, 500.0).process(x)
    assert np.abs(y[:50]).max() < 200, "the DC offset rang through the filter at start-up"
    spec = np.abs(np.fft.rfft(y[1000:], axis=0)).mean(1)
    freqs = np.fft.rfftfreq(len(y) - 1000, 1 / 500.0)
    at = lambda f: spec[np.argmin(np.abs(freqs - f))]  # noqa: E731
    assert at(50.0) < 0.02 * at(10.0)
    assert abs(y[1000:].mean()) < 1.0


def test_car_and_standardisation():
    x = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    cfg = PreprocessingConfig(car=True, mean=[0, 0, 0, 0], std=[2, 2, 2, 2])
    y = Preprocessor(cfg, 4, 100.0).process(x)
    np.testing.assert_allclose(y, (x - x.mean(1, keepdims=True)) / 2, atol=1e-6)


def test_reset_restarts_from_the_next_sample():
    x = test_signal(600)
    pre = Preprocessor(FULL, 8, 500.0)
    pre.process(x[:300])
    pre.reset()
    np.testing.assert_allclose(pre.process(x[300:]), Preprocessor(FULL, 8, 500.0).process(x[300:]), atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bandpass": (40.0, 1.0)}, "bandpass must satisfy 0 < low < high, got (40.0, 1.0)"),
        ({"mean": [0.0]}, "mean and std must be given together (standardisation), got only one"),
        ({"mean": [0.0], "std": [0.0]}, "std must be > 0 for every channel"),
        # audit s69dsp F2: written as null in the graph's metadata, then said as "the card was edited after export"
        ({"mean": [0.0, float("nan")], "std": [1.0, 1.0]}, "mean must be a finite number for every channel, got nan"),
        ({"mean": [0.0, 0.0], "std": [float("inf"), 1.0]}, "std must be a finite number for every channel, got inf"),
        ({"notch": 50.0, "notch_q": float("inf")}, "Input should be a finite number"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PreprocessingConfig(**kwargs)


def test_design_errors_name_the_rule():
    with pytest.raises(ValueError,
                       match=r"bandpass high cut-off must be below Nyquist \(50.0 Hz at sfreq 100.0\), got 60.0"):
        Preprocessor(PreprocessingConfig(bandpass=(1.0, 60.0)), 4, 100.0)
    with pytest.raises(ValueError, match=r"preprocessing mean must have n_chans=4 values, got 2"):
        Preprocessor(PreprocessingConfig(mean=[0, 0], std=[1, 1]), 4, 100.0)
    with pytest.raises(ValueError, match=r"x must have shape \(T, n_chans=4\), got \(3, 5\)"):
        Preprocessor(PreprocessingConfig(), 4, 100.0).process(np.zeros((3, 5)))


@pytest.mark.parametrize(("config", "n_chans", "sfreq", "message"), [
    # audit s69dsp F1: scipy's notch design with a width beyond Nyquist is unstable (poles of 7.2 at 128 Hz: inf then
    # NaN from sample 100) or no notch at all; it was accepted, upgraded and loaded
    ({"notch": 50.0, "notch_q": 0.5}, 4, 128.0, r"notch_q must be above notch / Nyquist = 0.781 \(a notch 100 Hz wide "
     r"at 50 Hz, beyond Nyquist 64 Hz: an unstable filter\), got 0.5"),
    ({"notch": 50.0, "notch_q": 0.2}, 4, 250.0, r"notch_q must be above notch / Nyquist = 0.4"),
    # F3: a common average reference of one channel is 0 (upgraded; train blamed 'flat' data or trained on zeros)
    ({"bandpass": (8.0, 30.0), "car": True}, 1, 250.0, r"car must be false for 1 channel"),
    # F4: 'Singular matrix' of a band from 1e-6 Hz
    ({"bandpass": (1e-6, 40.0)}, 4, 2048.0, r"give an unstable filter \(a pole on or outside the unit circle\)"),
])
def test_a_filter_that_cannot_work_is_refused_naming_the_setting(config, n_chans, sfreq, message):
    with pytest.raises(ValueError, match=message):
        Preprocessor(PreprocessingConfig(**config), n_chans, sfreq)


def test_the_usual_notch_and_a_low_band_at_a_high_rate_still_filter():
    for config, sfreq in (({"notch": 50.0}, 250.0), ({"notch": 60.0, "notch_q": 1.0}, 250.0),
                          ({"bandpass": (0.05, 0.2), "filter_order": 10}, 250.0), ({"bandpass": (0.01, 40.0)}, 2048.0)):
        y = Preprocessor(PreprocessingConfig(**config), 2, sfreq).process(np.full((2000, 2), 8e4))
        assert np.isfinite(y).all() and np.abs(y).max() < 8e4 * 1.001, config


def test_nonfinite_guard_hold_and_zero():
    x = np.array([[1, 2], [np.nan, 3], [np.inf, -np.inf], [4, 5]], dtype=np.float32)
    g = NonFiniteGuard(2, "hold")
    np.testing.assert_array_equal(g.apply(x.copy()), [[1, 2], [1, 3], [1, 3], [4, 5]])
    assert g.n_replaced == 3 and g.n_chunks_affected == 1
    y = g.apply(np.array([[np.nan, np.nan]], dtype=np.float32))  # holds across chunks
    np.testing.assert_array_equal(y, [[4, 5]])
    z = NonFiniteGuard(2, "zero").apply(x.copy())
    np.testing.assert_array_equal(z, [[1, 2], [0, 3], [0, 0], [4, 5]])
    with pytest.raises(ValueError, match=r"nan_policy must be one of \('hold', 'zero'\), got 'drop'"):
        NonFiniteGuard(2, "drop")
