"""Reading a model's channels from a file (``evaluate``'s loader, ``load_recording(ch_names=...)`` as ``replay``
passes it) follows the live service's rule for 10-20/10-10 renamed positions: a model's ``T7`` reads a scalp-EEG
file's ``T3``, and says so; an sEEG contact ``T3`` (shaft T, contact 3) is never read as ``T7``. Real FIF files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import load_recording
from bci_stream.io.errors import ChannelError, RecordingWarning
from bci_stream.train.evaluate.inputs import EvaluationInputError, load_for_model

mne = pytest.importorskip("mne")

SFREQ = 160.0
MODEL = ["C3", "T7", "Cz"]
LABELS = {"T1": "left", "T2": "right"}


def _fif(out: Path, names: list[str], ch_type: str) -> Path:
    """A 20 s FIF file of ``names`` (all of ``ch_type``), 20 µV noise, cues T1/T2 every 2 s."""
    data = np.random.default_rng(0).normal(0.0, 20e-6, (len(names), int(20 * SFREQ)))
    info = mne.create_info(names, SFREQ, ch_types=ch_type, verbose="error")
    raw = mne.io.RawArray(data, info, verbose="error")
    raw.set_annotations(mne.Annotations(np.arange(1.0, 19.0, 2.0), [1.0] * 9, ["T1", "T2"] * 4 + ["T1"]))
    raw.save(out, verbose="error")
    return out


def test_evaluate_reads_a_models_t7_from_a_10_20_file_and_notes_it(tmp_path: Path) -> None:
    path = _fif(tmp_path / "ten_twenty_raw.fif", ["C3", "T3", "Cz"], "eeg")
    got = load_for_model(path, LABELS, MODEL, sfreq=SFREQ)
    np.testing.assert_allclose(got.raw[1], load_recording(path).data[1], rtol=1e-6)  # T7 is the file's T3
    notes = [n for n in got.notes if "other name" in n]
    assert len(notes) == 1 and notes[0].startswith(f"{path.name}: model channels read under their other name")
    assert "T7 = 'T3'" in notes[0], notes


def test_evaluate_never_reads_an_seeg_contact_under_a_10_10_name(tmp_path: Path) -> None:
    path = _fif(tmp_path / "seeg_raw.fif", ["C3", "T3", "Cz"], "seeg")
    with pytest.raises(EvaluationInputError, match=r"not in .*: T7") as info:
        load_for_model(path, LABELS, MODEL, sfreq=SFREQ)
    assert "other name" not in str(info.value)  # no hint that T3 is T7: an sEEG T3 is not


def test_load_recording_warns_once_for_a_renamed_channel_and_not_for_seeg(tmp_path: Path) -> None:
    path = _fif(tmp_path / "ten_twenty_raw.fif", ["C3", "T3", "Cz"], "eeg")
    with pytest.warns(RecordingWarning) as caught:
        rec = load_recording(path, ch_names=MODEL)
    assert rec.ch_names == ["C3", "T3", "Cz"]
    said = [str(w.message) for w in caught if "other name" in str(w.message)]
    assert len(said) == 1 and said[0].startswith(f"{path.name}: wanted channels read under their other name")
    with warnings.catch_warnings():  # a file whose names are the wanted ones: nothing to say
        warnings.simplefilter("error", RecordingWarning)
        load_recording(_fif(tmp_path / "ten_ten_raw.fif", MODEL, "eeg"), ch_names=MODEL)
    with pytest.raises(ChannelError, match="T7"):
        load_recording(_fif(tmp_path / "seeg_raw.fif", ["C3", "T3", "Cz"], "seeg"), ch_names=MODEL)
