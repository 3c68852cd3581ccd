"""Values beyond ±1 V in a file are read as the live service reads them: corrupt, held like NaN.

The service counts a streamed value beyond ±1 V (``core.units.MAX_INPUT_V``; no EEG input reaches it) as not finite
and holds it (``nan_policy``). Calibrate, train and evaluate's epoch references read files: before, they fitted such
values as data (one 1e15 µV sample fills a running power for half a minute), so what they fitted and scored was not
what the service decodes. Real EEGMMIDB S001 R05 (tests/data) written as FIF with the values set on some channels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import load_recording
from bci_stream.train.classical.bad_spans import LIMIT_UV, beyond_limit, hold_nonfinite, nonfinite_stretches
from bci_stream.train.classical.calibration_inputs import CalibrationError, load_calibration
from support.common import subset_file
from support.marked import LABELS, R06, SFREQ, cues, marked_fif

pytest.importorskip("mne")


def _prep(path: Path):
    return load_calibration([path, subset_file(R06)], LABELS)


def test_calibrate_holds_values_beyond_1v_as_it_holds_nan(tmp_path: Path) -> None:
    t = cues()[3][0] / SFREQ  # a cue: its trial overlaps the stretch and is left out either way
    big = _prep(marked_fif(tmp_path / "big_raw.fif", nan=[([4], t + 1.0, t + 2.0, 2e6),
                                                          ([9], t + 1.5, t + 1.51, 1e15)]))
    nan = _prep(marked_fif(tmp_path / "nan_raw.fif", nan=[([4], t + 1.0, t + 2.0, np.nan),
                                                          ([9], t + 1.5, t + 1.51, np.nan)]))
    np.testing.assert_array_equal(big.runs[0].data, nan.runs[0].data)  # what every fit and CV score streams
    assert np.abs(big.runs[0].data).max() < LIMIT_UV
    np.testing.assert_array_equal(big.runs[0].trials.onsets, nan.runs[0].trials.onsets)
    assert len(big.runs[0].trials) == len(cues()) - 1
    said = [n for n in big.notes if n.startswith("big_raw.fif: 162 non-finite value(s)")]
    assert said and "(NaN/inf, or beyond ±1 V, which no EEG reaches: 162) on 2 channel(s)" in said[0], big.notes
    assert any(n.startswith("nan_raw.fif: 162 non-finite value(s) (NaN/inf) on 2 channel(s)") for n in nan.notes)


def test_a_channel_wholly_beyond_1v_is_refused_naming_the_unit_as_a_cause(tmp_path: Path) -> None:
    name = load_recording(subset_file(R06)).ch_names[4]
    volts_as_uv = marked_fif(tmp_path / "unit_raw.fif", nan=[([4], 0.0, 125.0, 3e6)])
    with pytest.raises(CalibrationError, match=rf"unit_raw.fif: 1 of the 21 used channel\(s\) \({name}\) hold no "
                                               r"finite sample within ±1 V \(only NaN, inf or larger values, which no "
                                               r"EEG reaches: a broken channel, or a file whose unit is not the one it "
                                               r"declares\)"):
        _prep(volts_as_uv)


def test_the_offline_helpers_bound_values_as_the_service_guard_does() -> None:
    data = np.zeros((6, 2))
    data[1, 0], data[2, 1], data[3, 0], data[4, 1] = -1.5e6, np.nan, 1e6, np.inf  # 1e6 µV (1 V) is still data
    assert nonfinite_stretches(data) == [(1, 3), (4, 5)]
    assert beyond_limit(data) == 1
    assert hold_nonfinite(data) == 3
    assert data[1, 0] == 0.0 and data[2, 1] == 0.0 and data[3, 0] == 1e6 and data[4, 1] == 0.0


def test_the_trainer_holds_values_beyond_1v_and_says_how_many(tmp_path: Path) -> None:
    from bci_stream.train.bad_data import hold_and_unlabel

    rec = load_recording(marked_fif(tmp_path / "big_raw.fif", nan=[([2, 5], 10.0, 10.5, -4e6)]))
    held, bad = hold_and_unlabel(rec, (), 3.0)
    assert bad.n_held == bad.n_beyond == 160 and np.abs(held.data).max() < LIMIT_UV
    assert held.data[2, int(10.2 * SFREQ)] == held.data[2, int(10.0 * SFREQ) - 1]  # the last value within ±1 V
    assert "160 non-finite value(s) (NaN/inf, or beyond ±1 V, which no EEG reaches: 160)" in bad.note()
