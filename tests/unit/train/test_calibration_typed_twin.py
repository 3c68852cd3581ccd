"""calibrate ``--channels`` naming a 10-10 channel whose only twin in the file is an sEEG contact (``T3`` typed
seeg): the error says why that channel was not read, not only that T7 is missing. A real FIF file (mne)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bci_stream.io import load_recording
from bci_stream.train.classical.calibration_inputs import CalibrationError, load_calibration
from support.common import SUBSET_S001_21CH, subset_file

mne = pytest.importorskip("mne")


def test_a_calibration_channel_whose_twin_is_an_seeg_contact_says_so(tmp_path: Path) -> None:
    rec = load_recording(subset_file(SUBSET_S001_21CH / "S001R05.edf"))
    names = ["T3" if n == "C5.." else n for n in rec.ch_names]
    types = ["seeg" if n == "T3" else "eeg" for n in names]
    raw = mne.io.RawArray(rec.data * 1e-6, mne.create_info(names, rec.sfreq, ch_types=types, verbose="error"),
                          verbose="error")
    raw.set_annotations(mne.Annotations([e.onset / rec.sfreq for e in rec.events], [0.0] * len(rec.events),
                                        [e.description for e in rec.events]))
    path = tmp_path / "seeg_raw.fif"
    raw.save(path, verbose="error")
    with pytest.raises(CalibrationError) as err:
        load_calibration([path], {"T1": "fists", "T2": "feet"}, channels=["C3", "T7", "Cz"])
    assert "channels missing in" in str(err.value) and "'T7'" in str(err.value)
    assert "T3 is typed seeg, not EEG: not read as T7" in str(err.value), str(err.value)
