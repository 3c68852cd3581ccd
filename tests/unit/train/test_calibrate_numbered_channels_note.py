"""calibrate on a GDF file in the BCI Competition IV 2a layout (real EEG, EEGMMIDB S001R06 from tests/data, written by
``support.gdf``): its EEG channels are numbered (``EEG-0`` ... ``EEG-16``, only five carry a 10-10 position), so no
sensorimotor row is found; the note says so and names the remedy, ``--channel-names``, and is silent once the
channels are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from bci_stream.io import load_recording
from bci_stream.train.classical.calibration_inputs import load_calibration
from support.common import SUBSET_R06, subset_file
from support.gdf import BCI2A_POSITIONS, CUE_LEFT, CUE_RIGHT, bci2a_like

pytest.importorskip("mne")

LABELS = {str(CUE_LEFT): "left", str(CUE_RIGHT): "right"}


def test_numbered_channels_get_a_note_naming_channel_names(tmp_path: Path) -> None:
    path = bci2a_like(tmp_path / "A01T.gdf", load_recording(subset_file(SUBSET_R06)),
                      cue_codes={"T1": CUE_LEFT, "T2": CUE_RIGHT})
    prep = load_calibration([path], LABELS)
    note = next(n for n in prep.notes if n.startswith("no 10-10 sensorimotor channels"))
    assert "17 of them are only numbered (EEG-0, EEG-1, EEG-2 ..., as BCI Competition IV 2a's EEG-0" in note, note
    assert "name every channel by its position with --channel-names" in note
    names = BCI2A_POSITIONS + ["EOG-left", "EOG-central", "EOG-right"]
    named = load_calibration([path], LABELS, channel_names=names)
    assert not any("no 10-10 sensorimotor" in n for n in named.notes), named.notes
    assert any(n.startswith("sensorimotor channels picked by name: ") for n in named.notes), named.notes
