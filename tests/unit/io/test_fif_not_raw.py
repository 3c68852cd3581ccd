"""A FIF file that holds no continuous recording (the epochs ``-epo.fif`` and evoked ``-ave.fif`` files an mne
pipeline writes) is refused naming what it holds and what to give instead: mne's reader says only "No raw data".

Real EEG: the repository's S001 R05 subset, cut into epochs around its cues by mne and averaged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bci_stream.io import load_recording
from bci_stream.io.errors import DataError
from support.common import subset_file
from support.marked import R05

mne = pytest.importorskip("mne")


def _epochs(tmp_path: Path):
    raw = mne.io.read_raw_edf(subset_file(R05), preload=True, verbose="error")
    events, ids = mne.events_from_annotations(raw, event_id={"T1": 1, "T2": 2}, verbose="error")
    return mne.Epochs(raw, events, ids, tmin=-0.5, tmax=2.5, baseline=None, preload=True, verbose="error")


def test_epochs_and_evoked_fif_files_are_refused_naming_what_they_hold(tmp_path: Path) -> None:
    epochs = _epochs(tmp_path)
    epochs.save(epo := tmp_path / "s001-epo.fif", verbose="error")
    mne.write_evokeds(ave := tmp_path / "s001-ave.fif", epochs.average(), verbose="error")
    with pytest.raises(DataError, match=r"No raw data .*; the file holds epochs \(mne Epochs: trials cut out\), not a "
                                        r"continuous recording: give the raw recording they came from"):
        load_recording(epo)
    with pytest.raises(DataError, match=r"the file holds evoked responses \(mne Evoked: averages\), not a continuous"):
        load_recording(ave)


def test_a_corrupt_fif_keeps_mnes_message_alone(tmp_path: Path) -> None:
    bad = tmp_path / "broken_raw.fif"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(DataError, match=r"cannot read .*broken_raw.fif as a .fif file: ") as info:
        load_recording(bad)
    assert "the file holds" not in str(info.value)
