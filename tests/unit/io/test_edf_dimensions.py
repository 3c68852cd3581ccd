"""An EDF/BDF channel's physical dimension decides its scale, however it is spelt: mne scales only ``uV``, ``µV``
and ``mV`` written exactly so and reads every other dimension as volts, so ``nV``, ``UV``, ``uv``, ``mv`` (and a
UTF-8 ``μV``) were streamed 1e9, 1e6 or 1e3 times too large, labelled microvolts (calibrate then blamed "µV numbers
read as V"; audit s69io F1). Real files written by the test EDF writer, read by mne through ``load_recording``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bci_stream.io import load_recording
from bci_stream.io.errors import RecordingWarning
from bci_stream.io.recording import UNIT
from support.edf import Signal, write_edf

DIGITAL = np.arange(-500, 500, dtype=np.int16)  # one record of 1000 samples: -500..499 counts
#: dimension text as written (Latin-1 header bytes) -> the size of one file unit in µV
DIMS = {"uV": 1.0, "UV": 1.0, "uv": 1.0, "µV": 1.0, "μV".encode().decode("latin-1"): 1.0, "nV": 1e-3, "mV": 1e3,
        "mv": 1e3, "MV": 1e3, "V": 1e6}


@pytest.mark.parametrize("dim", list(DIMS))
def test_a_voltage_dimension_in_any_spelling_is_read_in_microvolts(tmp_path, dim):
    # physical = digital * 0.1 file units: pmin/pmax as the header's 8-character texts
    sig = Signal("Cz", dim, "-3276.8", "3276.7", len(DIGITAL), DIGITAL)
    rec = load_recording(write_edf(tmp_path / "u.edf", [sig], 1, record_s=4.0))
    assert rec.ch_units == [UNIT] and rec.ch_types == ["eeg"]
    np.testing.assert_allclose(rec.data[0], DIGITAL * 0.1 * DIMS[dim], rtol=1e-4, atol=1e-9)


def test_a_dimension_that_is_no_voltage_keeps_the_files_values_and_unit(tmp_path):
    sigs = [Signal("Cz", "uV", "-3276.8", "3276.7", len(DIGITAL), DIGITAL),
            Signal("Temp", "degC", "-3276.8", "3276.7", len(DIGITAL), DIGITAL)]
    rec = load_recording(write_edf(tmp_path / "t.edf", sigs, 1, record_s=4.0))
    assert rec.ch_units == [UNIT, "degC"] and rec.ch_types[1] == "temperature"  # by its label
    np.testing.assert_allclose(rec.data[1], DIGITAL * 0.1, rtol=1e-4)


def test_signals_at_different_rates_are_said(tmp_path):
    """mne reads an EDF's signals at the fastest one's rate, the others interpolated: a 256-Hz EEG beside a 512-Hz
    accelerometer was read at 512 Hz with no word (a model made from it expects 512 Hz of a 256-Hz amplifier;
    audit s69io F5)."""
    eeg = Signal("Cz", "uV", "-3276.8", "3276.7", 256, np.zeros(256 * 2, np.int16))
    acc = Signal("AccX", "g", "-3276.8", "3276.7", 512, np.zeros(512 * 2, np.int16))
    with pytest.warns(RecordingWarning, match="m.edf: its signals are sampled at different rates \\(Cz at 256 Hz; "
                      "AccX at 512 Hz\\): mne reads every one at the fastest, 512 Hz"):
        rec = load_recording(write_edf(tmp_path / "m.edf", [eeg, acc], 2))
    assert rec.sfreq == 512.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordingWarning)
        assert load_recording(write_edf(tmp_path / "one.edf", [eeg], 2)).sfreq == 256.0


def test_a_label_of_another_sensor_types_its_channel(tmp_path):
    """EDF declares no channel type (mne says eeg of every one): a label naming another sensor types it, as GDF and
    BrainVision labels do (the replay's desc said EEG of 'EOG Fp1'; audit s69io F11); a trigger-like label on a
    channel in µV stays a data channel, as mne reads it."""
    labels = ["EEG Fp1-Ref", "C3..", "EOG Fp1", "EMG Chin", "ECG", "TRIG"]
    sigs = [Signal(label, "uV", "-3276.8", "3276.7", 256, np.zeros(256, np.int16)) for label in labels]
    rec = load_recording(write_edf(tmp_path / "types.edf", sigs, 1))
    assert rec.ch_names == labels and rec.ch_types == ["eeg", "eeg", "eog", "emg", "ecg", "eeg"]


def test_a_blank_dimension_is_read_as_volts_as_mne_reads_it_and_said(tmp_path):
    """A blank dimension is mne's volts (x1): its channel streamed as microvolts 1e6 times its file values, with no
    word (audit s70sim F1). It is still read so (a file in volts keeps its values), and a warning names it."""
    sigs = [Signal("C3", "uV", "-3276.8", "3276.7", len(DIGITAL), DIGITAL),
            Signal("C4", "", "-3276.8", "3276.7", len(DIGITAL), DIGITAL)]
    with pytest.warns(RecordingWarning, match=r"b.edf: 1 channel\(s\) have a blank physical dimension \(C4\): read as "
                      r"volts, as mne reads them, so a value of 50 is 50 V \(5e7 µV\); if they hold microvolts, give "
                      r"them the dimension uV"):
        rec = load_recording(write_edf(tmp_path / "b.edf", sigs, 1, record_s=4.0))
    assert rec.ch_units == [UNIT, UNIT]
    np.testing.assert_allclose(rec.data[1], DIGITAL * 0.1 * 1e6, rtol=1e-4)
