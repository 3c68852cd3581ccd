"""``evaluate`` says when a file's amplitude is 100 times that of the model's training files or more, either way.

A model fitted on values in one unit answers one class on values in another: audit s46 calibrated a model on a
recording read in volts as µV and scored the same subject's µV with it; every trial went to one class and nothing
said why (a file in the wrong unit itself was warned of by its implausible amplitude; a model in the wrong unit was
not). Real EEG: the bundled ``eegmmidb-s001`` (calibrated on S001 R05, R06, R09, R10; its card holds their content
prints) scored on S001 R06 (tests/data, 64 channels) as recorded, and with every value 1000 times larger or smaller:
its first 20 s (2 cues, a fists and a feet; the check reads a file's first 2048 samples, 12.8 s), as decoding the
whole run costs ~10 s of CPU a test (34 s: ~6 s).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bci_stream.train.evaluate.offline import evaluate_target
from support.common import REPO, SUBSET_R06, subset_file

mne = pytest.importorskip("mne")

MODEL = REPO / "models" / "eegmmidb-s001"
CROP_S = 20.0


def scaled(tmp_path: Path, factor: float) -> Path:
    raw = mne.io.read_raw_edf(subset_file(SUBSET_R06), preload=True, verbose="error")
    raw.crop(0.0, CROP_S, include_tmax=False)
    raw.apply_function(lambda x: x * factor)
    path = tmp_path / f"S001R06_x{factor:g}_raw.fif"
    raw.save(path, verbose="error")
    return path


def scale_warning(res: dict) -> list[str]:
    return [w for w in res["warnings"] if "times that of the model's training files" in w]


@pytest.mark.parametrize("factor", [1e3, 1e-3])
def test_a_file_1000_times_off_the_models_training_files_is_warned_of(tmp_path: Path, factor: float) -> None:
    (warning,) = scale_warning(evaluate_target(str(MODEL), [scaled(tmp_path, factor)]))
    assert warning.startswith(f"S001R06_x{factor:g}_raw.fif: over the model's channels its amplitude (median "
                              "channel SD over its first 2048 samples,"), warning
    ratio = float(re.search(r"µV\) is (\S+) times that of the model's training files", warning).group(1))
    assert factor / 3 < ratio < factor * 3, warning  # R06's first samples against the four runs' median
    assert "the model's outputs on it mean nothing until they agree" in warning


def test_a_file_as_recorded_is_not(tmp_path: Path) -> None:
    assert scale_warning(evaluate_target(str(MODEL), [scaled(tmp_path, 1.0)])) == []
