"""read_session gives the inputs in microvolts (the Recording contract), converted from the recorded header's
units as load_recording converts them; offline decoding of them equals the outputs decoded online from µV."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bci_stream.core.registry import ModelRegistry
from bci_stream.engine.offline import decode_offline
from bci_stream.io import load_recording
from bci_stream.io.recording import UNIT
from bci_stream.io.session import read_session
from bci_stream.service.recorder import Recorder
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal


def record(path: Path, x: np.ndarray, y: np.ndarray, units: list[str], ch_names: list[str],
           ch_types: list[str] | None = None) -> None:
    """A session as the service records it: the input header's units (as recorded_channels gives them)."""
    rec = Recorder(
        path,
        {"name": "amp", "type": "EEG", "ch_names": ch_names, "sfreq": TINY_SFREQ, "channel_format": "double64",
         "source_id": "amp-1", "unit": units, "ch_types": ch_types},
        {"name": "amp-decoded", "labels": [f"o{i}" for i in range(y.shape[1])], "sfreq": TINY_SFREQ,
         "source_id": "amp-1/decoded/abc", "model": {"name": "tiny-gru", "version": "1", "sha256": "ab" * 32}},
        flush_interval=0.05,
    )
    ts = 100.0 + np.arange(len(x)) / TINY_SFREQ
    for c in np.array_split(np.arange(len(x)), 7):
        rec.inputs(x[c], ts[c])
        rec.outputs(y[c], ts[c], c, 0)
    time.sleep(0.1)
    rec.close()


def test_a_volts_session_reads_back_in_microvolts_and_decodes_offline_as_online(tmp_path, models_dir):
    entry = ModelRegistry(models_dir).get("tiny-gru")
    uv = test_signal(400, seed=3).astype(np.float64)
    online = decode_offline(entry, uv.astype(np.float32))  # what the decoder published (it scales V to µV)
    path = tmp_path / "volts.xdf"
    record(path, uv * 1e-6, online, ["V"] * len(TINY_CH_NAMES), list(TINY_CH_NAMES))
    s = read_session(path)
    ref = load_recording(path)
    assert s.inputs.ch_units == [UNIT] * len(TINY_CH_NAMES) and s.inputs.units() == ref.units()
    assert s.inputs.ch_types == ref.ch_types and s.inputs.ch_names == ref.ch_names
    np.testing.assert_allclose(s.inputs.data, ref.data, rtol=0, atol=0)
    np.testing.assert_allclose(s.inputs.data, uv.T, rtol=1e-12, atol=1e-9)
    offline = decode_offline(entry, np.ascontiguousarray(s.inputs.data.T, dtype=np.float32))
    np.testing.assert_allclose(offline, s.outputs, atol=1e-5)


def test_mixed_units_mne_lsl_powers_and_a_stim_channel(tmp_path):
    """mne-lsl's ``0``/``-6`` on an eeg type are V/µV; a ``none`` stim channel keeps its values and unit."""
    x = np.array([[1e-6, 2.0, 3.0, 5e-3]] * 10)
    path = tmp_path / "mixed.xdf"
    record(path, x, np.zeros((10, 1), np.float32), ["0", "-6", "none", "mV"], ["C3", "C4", "STI", "Cz"],
           ["eeg", "eeg", "stim", "eeg"])
    s = read_session(path)
    np.testing.assert_allclose(s.inputs.data[:, 0], [1.0, 2.0, 3.0, 5.0])
    assert s.inputs.ch_units == [UNIT, UNIT, "none", UNIT] and s.inputs.ch_types == ["eeg", "eeg", "stim", "eeg"]
    ref = load_recording(path)
    np.testing.assert_array_equal(s.inputs.data, ref.data)
