"""Files whose channels differ are refused with the ``--channels`` value that uses the channels they all have
(audit s51).

Before: a run recorded with one more electrode than the others (``X1``) was refused with ``channels missing in
S001R05.edf: ['X1'] (1 of 22); pass --channels with a set every file has``: the user had to type the other 21 (or 64)
names by hand. Now the refusal ends ``e.g. the 21 they all have: --channels Fc5.,Fc3.,...``, a value that loads.
Real EEG: the repository's S001 subset (21 channels); R06 written as FIF with one more EEG channel (a real channel of
R06 under another name).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import load_recording
from bci_stream.io.fif_writer import save_fif
from bci_stream.io.recording import Recording
from bci_stream.train.classical.calibration_inputs import CalibrationError, load_calibration
from support.common import SUBSET_S001_21CH, subset_file

R05, R06 = SUBSET_S001_21CH / "S001R05.edf", SUBSET_S001_21CH / "S001R06.edf"
LABELS = {"T1": "fists", "T2": "feet"}


def test_the_refusal_gives_the_channels_every_file_has(tmp_path: Path) -> None:
    rec = load_recording(subset_file(R06))
    more = Recording(data=np.vstack([rec.data, rec.data[-1:]]), sfreq=rec.sfreq, ch_names=[*rec.ch_names, "X1"],
                     events=rec.events, source=str(R06))
    r06_more = save_fif(more, tmp_path / "S001R06_more_raw.fif")
    with pytest.raises(CalibrationError) as caught:
        load_calibration([subset_file(R05), r06_more], LABELS)
    said = str(caught.value)
    assert "channels missing in" in said and "['X1']" in said
    head, _, value = said.partition(f"e.g. the {rec.n_chans} they all have: --channels ")
    assert value, said
    channels = shlex.split(value)[0].split(",")
    assert channels == rec.ch_names
    prep = load_calibration([subset_file(R05), r06_more], LABELS, channels=channels)  # the value given loads
    assert prep.ch_names == rec.ch_names
