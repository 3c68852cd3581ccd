"""A GDF channel's type from its label, by the one rule that also says a channel is not EEG by name
(``bci_stream.core.channels.non_eeg_type``). Real EEG: EEGMMIDB S001R06 (tests/data), written by ``support.gdf``.

Before this rule ``io/gdf.py`` had its own pattern (EOG/ECG/EKG/EMG only): ``VEOG``, ``HEOG``, ``RESP``, ``GSR``
stayed typed EEG (and streamed so) while ``non_eeg_reason`` called them non-EEG by name.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from bci_stream.core.channels import non_eeg_reason, non_eeg_type
from bci_stream.io import load_recording
from support.common import SUBSET_R06, subset_file
from support.gdf import BCI2A_LABELS, write_gdf

pytest.importorskip("mne")

LABELS = ["EEG-C3", "EEG-0", "VEOG", "HEOG", "EOG-left", "ECG", "EMG1", "RESP", "GSR", "Temp", "AUX1", "TRIG"]
TYPES = ["eeg", "eeg", "eog", "eog", "eog", "ecg", "emg", "resp", "gsr", "temperature", "misc", "misc"]


def test_gdf_channels_are_typed_by_the_name_rule(tmp_path: Path) -> None:
    rec = load_recording(subset_file(SUBSET_R06))
    x = rec.data[:len(LABELS), :1600]
    path = write_gdf(tmp_path / "typed.gdf", x, 160.0, LABELS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = load_recording(path)

    assert got.ch_names == LABELS and got.ch_types == TYPES  # before: VEOG, HEOG, RESP, GSR, Temp, AUX1, TRIG eeg
    assert got.units() == ["microvolts"] * len(LABELS)


@pytest.mark.parametrize("name", [*LABELS, *BCI2A_LABELS, "STI 014", "Status", "Marker", "EKG", "ppg", "ACC_X",
                                  "Temperature", "EEG-EOG", "Fp1", "Cz", "T7", "A1-A2"])
def test_the_type_a_name_implies_is_what_makes_it_non_eeg_by_name(name: str) -> None:
    assert non_eeg_reason(name) == ("name" if non_eeg_type(name) is not None else None)
    assert (non_eeg_type(name) is None) == (name.startswith("EEG-") and name != "EEG-EOG"
                                            or name in ("Fp1", "Cz", "T7", "A1-A2"))
