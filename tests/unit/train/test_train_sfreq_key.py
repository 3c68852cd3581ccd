"""``train`` refuses runs of different rates naming the config key of the file that differs (audit s22, finding 2):
before, ``error: sfreq must be the same in every recording (we refuse, not resample): ...`` named the files only,
while train's other refusals name ``data.train[i]``.

Real EEG: the repository's S001 subset (the tiny config's files), R05 written as FIF stamped 128 Hz.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("mne")

from bci_stream.core.errors import DataError  # noqa: E402
from bci_stream.io import load_recording  # noqa: E402
from bci_stream.io.fif_writer import save_fif  # noqa: E402
from bci_stream.train.config import load_config  # noqa: E402
from support.common import subset_file  # noqa: E402
from support.train_data import S001, tiny_config_text  # noqa: E402


def test_a_file_of_another_rate_is_refused_naming_its_config_key(tmp_path: Path) -> None:
    from bci_stream.train.dataset import prepare_dataset

    for run in ("S001R05.edf", "S001R06.edf", "S001R10.edf"):
        subset_file(S001 / run)
    # R05 as a FIF file stamped 128 Hz (the real samples, another rate: what a lab's second amplifier gives)
    other = save_fif(replace(load_recording(S001 / "S001R05.edf"), sfreq=128.0), tmp_path / "S001R05_128_raw.fif")
    text = tiny_config_text(tmp_path / "out").replace('train = ["S001R06.edf", "S001R05.edf"]',
                                                      f'train = ["S001R06.edf", "{other}"]')
    (cfg := tmp_path / "run.toml").write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(
            f"data.train[1]: sfreq must be the same in every recording (we refuse, not resample): {other} has "
            f"sfreq=128 Hz, {S001 / 'S001R06.edf'} (data.train[0]) has 160 Hz")):
        prepare_dataset(load_config(cfg))
