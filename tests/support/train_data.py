"""A small slice of real EEG for trainer tests (S001, 8 motor channels, 40 s per run).

The runs come from the repository's subset (tests/data/eegmmidb/S001-21ch: R05, R06, R09, R10 with the 21
sensorimotor channels, samples and events as in the originals), so these tests run on a fresh clone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.common import SUBSET_S001_21CH, subset_file

S001 = SUBSET_S001_21CH


CHANNELS = ["C3", "C1", "Cz", "C2", "C4", "Fc3", "Fcz", "Fc4"]


def tiny_config_text(out_dir: Path, *, export_dir: Path | None = None, bidirectional: bool = True,
                     lookaheads: str = "[0, 8]", extra: str = "") -> str:
    return f"""
name = "tiny-s001"
seed = 3

[data]
root = "{S001}"
train = ["S001R06.edf", "S001R05.edf"]
test = ["S001R10.edf"]
validation_tail_s = 12.0
tail_files = ["S001R06.edf"]
label_map = {{ T0 = "rest", T1 = "fists", T2 = "feet" }}
trial_classes = ["fists", "feet"]
channels = {json.dumps(CHANNELS)}
crop_s = [0.0, 40.0]

[model]
hidden_size = 8
dropout = 0.1
input_dropout = 0.1
power_filters = 4
spatial_init = "csp"

[training]
epochs = 2
window_s = 1.0
segment_s = 6.0
patience = 1
min_epochs = 1
lookahead_positions = 8
bidirectional_future_s = 1.0
threads = 1

[evaluation]
trial_times_s = [0.5, 1.0, 2.0, 3.0]
bidirectional = {str(bidirectional).lower()}
lookaheads = {lookaheads}
csp_components = 2
{extra}

[output]
dir = "{out_dir}"

[export]
enabled = {str(export_dir is not None).lower()}
dir = "{export_dir or ''}"
name = "tiny-s001-gru"
licence = {{ dataset = "PhysioNet EEGMMIDB", licence = "ODC-By 1.0" }}
"""


@pytest.fixture(scope="module")
def data_present() -> Path:
    for run in ("S001R05.edf", "S001R06.edf", "S001R10.edf"):
        subset_file(S001 / run)
    return S001


FISTS_FEET = {"T1": "fists", "T2": "feet"}


def s001_calibration():
    """S001's R05 and R06 (21 channels, fists vs feet) loaded as ``bci-stream calibrate`` loads them."""
    from bci_stream.train.classical.calibration_inputs import load_calibration

    files = [subset_file(S001 / f"S001R{r:02d}.edf") for r in (5, 6)]
    return load_calibration(files, FISTS_FEET, progress=False)


def s001_r09(prep, n_samples: int):
    """The first ``n_samples`` of S001's R09 (a later run), on the same channels as ``prep``."""
    from bci_stream.train.classical.calibration_inputs import load_calibration

    test = load_calibration([subset_file(S001 / "S001R09.edf")], FISTS_FEET, progress=False)
    assert test.ch_names == prep.ch_names
    return test.runs[0].data[:n_samples]
