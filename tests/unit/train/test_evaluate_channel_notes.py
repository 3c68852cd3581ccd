"""evaluate says what calibrate says of a file's channels: one flat (an electrode off), or two carrying one signal.
Before, a test file with the model's C3 flat scored 0.77 where the clean one scored 1.00, with ``"notes": []`` (an
audit, S002 R13/R14). Real EEG (tests/data: S001 R05, 21 channels), through the loader evaluate uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.train.evaluate.inputs import load_for_model
from support.common import SUBSET_S001_21CH

mne = pytest.importorskip("mne")

R05 = SUBSET_S001_21CH / "S001R05.edf"
LABELS = {"T1": "fists", "T2": "feet"}


def _with(tmp_path: Path, change) -> Path:
    raw = mne.io.read_raw_edf(R05, preload=True, verbose="error")
    data = raw.get_data()
    change(data, raw.ch_names)
    out = tmp_path / f"{change.__name__}_raw.fif"
    mne.io.RawArray(data, raw.info, verbose="error").set_annotations(raw.annotations).save(out, verbose="error")
    return out


def test_a_clean_file_gets_no_channel_warning():
    channels = mne.io.read_raw_edf(R05, verbose="error").ch_names
    assert not [n for n in load_for_model(R05, LABELS, channels).notes if n.startswith("warning")]


def test_a_flat_or_doubled_channel_in_a_scored_file_is_said(tmp_path: Path):
    channels = mne.io.read_raw_edf(R05, verbose="error").ch_names

    def flat(data: np.ndarray, names: list[str]) -> None:
        data[names.index("C3..")] = 0.0

    notes = load_for_model(_with(tmp_path, flat), LABELS, channels).notes
    assert any("channel(s) C3.. (flat: SD 0) far from the run's median channel SD" in n
               and "the model reads them as they are" in n for n in notes), notes

    def doubled(data: np.ndarray, names: list[str]) -> None:
        data[names.index("C4..")] = data[names.index("C3..")]

    notes = load_for_model(_with(tmp_path, doubled), LABELS, channels).notes
    assert any("channel pair(s) C3../C4.. carry one signal" in n for n in notes), notes
