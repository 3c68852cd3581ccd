"""A file whose ``T3`` is an sEEG (or ECoG) contact is not read as a model's 10-10 ``T7`` (right), and the refusal
of ``load_recording(ch_names=...)`` (``replay``, ``calibrate --channels`` readers) and of ``evaluate``'s loader says
why: "T3 is typed seeg, not EEG: not read as T7". A scalp ``T3`` in the same file is still read. Real FIF files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import load_recording
from bci_stream.io.errors import ChannelError
from bci_stream.train.evaluate.inputs import EvaluationInputError, load_for_model

mne = pytest.importorskip("mne")

SFREQ = 160.0
MODEL = ["C3", "T7", "Cz"]


def _fif(out: Path, names: list[str], types: list[str]) -> Path:
    """A 20 s FIF file of ``names`` typed ``types``, 20 µV noise, cues T1/T2 every 2 s."""
    data = np.random.default_rng(0).normal(0.0, 20e-6, (len(names), int(20 * SFREQ)))
    raw = mne.io.RawArray(data, mne.create_info(names, SFREQ, ch_types=types, verbose="error"), verbose="error")
    raw.set_annotations(mne.Annotations(np.arange(1.0, 19.0, 2.0), [1.0] * 9, ["T1", "T2"] * 4 + ["T1"]))
    raw.save(out, verbose="error")
    return out


@pytest.mark.parametrize("kind", ["seeg", "ecog"])
def test_a_non_eeg_twin_is_named_with_its_type(tmp_path: Path, kind: str) -> None:
    path = _fif(tmp_path / f"{kind}_raw.fif", ["C3", "T3", "Cz"], ["eeg", kind, "eeg"])
    with pytest.raises(ChannelError, match=rf"T3 is typed {kind}, not EEG: not read as T7"):
        load_recording(path, ch_names=MODEL)
    with pytest.raises(EvaluationInputError, match=rf"not in .*: T7 .*T3 is typed {kind}, not EEG: not read as T7"):
        load_for_model(path, {"T1": "left", "T2": "right"}, MODEL, sfreq=SFREQ)


def test_a_scalp_twin_beside_contacts_is_read(tmp_path: Path) -> None:
    path = _fif(tmp_path / "mixed_raw.fif", ["C3", "T3", "Cz", "T5"], ["eeg", "eeg", "eeg", "seeg"])
    with pytest.warns(UserWarning, match="T7 = 'T3'"):
        rec = load_recording(path, ch_names=MODEL)
    assert rec.ch_names == ["C3", "T3", "Cz"]
    with pytest.raises(ChannelError, match=r"T5 is typed seeg, not EEG: not read as P7"):
        load_recording(path, ch_names=["C3", "P7"])
