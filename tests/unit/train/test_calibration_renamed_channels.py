"""calibrate pools files whose channels carry the 10-20 name in one and the 10-10 name in another (``T3`` / ``T7``:
the same scalp position): one channel, the first file's spelling, the match in the notes. Real FIF files (mne)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import load_recording
from bci_stream.train.classical.calibration_inputs import load_calibration
from support.common import SUBSET_S001_21CH, subset_file

mne = pytest.importorskip("mne")

R05, R06 = SUBSET_S001_21CH / "S001R05.edf", SUBSET_S001_21CH / "S001R06.edf"
LABELS = {"T1": "fists", "T2": "feet"}


def _renamed_fif(src: Path, out: Path, names: dict[str, str]) -> Path:
    """``src`` as a FIF file with channels renamed by ``names`` (file spelling → new name)."""
    rec = load_recording(subset_file(src))
    info = mne.create_info([names.get(n, n) for n in rec.ch_names], rec.sfreq, ch_types="eeg", verbose="error")
    raw = mne.io.RawArray(rec.data * 1e-6, info, verbose="error")
    raw.set_annotations(mne.Annotations([e.onset / rec.sfreq for e in rec.events], [0.0] * len(rec.events),
                                        [e.description for e in rec.events]))
    raw.save(out, verbose="error")
    return out


def test_a_10_20_file_and_a_10_10_file_pool_their_renamed_channels(tmp_path: Path) -> None:
    a = _renamed_fif(R05, tmp_path / "a_raw.fif", {"C5..": "T3", "C6..": "T4"})
    b = _renamed_fif(R06, tmp_path / "b_raw.fif", {"C5..": "T7", "C6..": "T8"})
    prep = load_calibration([a, b], LABELS)
    assert len(prep.ch_names) == 21 and {"T3", "T4"} <= set(prep.ch_names)
    assert prep.runs[1].ch_names[7] == "T7"  # the second file's own spelling of the pooled channel
    np.testing.assert_allclose(prep.runs[1].data[:, 7], load_recording(subset_file(R06)).data[7], rtol=1e-6)
    assert any(n.startswith(f"{b}: calibration channels read under their other name") and "T3 = 'T7', T4 = 'T8'" in n
               for n in prep.notes), prep.notes
    # asked for by the other name, a channel is found in both files
    assert load_calibration([a, b], LABELS, channels=["C3", "T7"]).runs[0].ch_names == ["C3..", "T3"]
