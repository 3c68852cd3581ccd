"""`train` refuses a recording in two splits under another file: a renamed copy, or the recording re-saved in another
format (before: the splits were compared as files on disk only, so a FIF re-save of a training file was scored as the
held-out test set). Real files: the repository's S001 subset, and copies of it made here."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
mne = pytest.importorskip("mne")

from bci_stream.train.config import ConfigError, load_config  # noqa: E402
from support.train_data import data_present, tiny_config_text  # noqa: E402, F401


@pytest.fixture(scope="module")
def r05_as_fif(tmp_path_factory, data_present) -> Path:  # noqa: F811
    """S001R05 (the subset EDF, a training file of the tiny config) re-saved as FIF by mne."""
    raw = mne.io.read_raw_edf(data_present / "S001R05.edf", preload=True, verbose=False)
    out = tmp_path_factory.mktemp("copies") / "S001R05copy_raw.fif"
    raw.save(out, verbose=False)
    return out


def _config(tmp_path: Path, edit):
    p = tmp_path / "run.toml"
    p.write_text(edit(tiny_config_text(tmp_path / "out")), encoding="utf-8")
    return load_config(p)


def _check(cfg) -> None:
    from bci_stream.train.dataset import check_data

    check_data(cfg)


def test_a_training_file_re_saved_as_fif_is_refused_as_a_test_file(tmp_path, r05_as_fif):
    cfg = _config(tmp_path, lambda t: t.replace('test = ["S001R10.edf"]', f'test = ["{r05_as_fif}"]'))
    with pytest.raises(ConfigError, match=re.escape(
            f"data.test[0]: file '{r05_as_fif}' holds the same samples as 'S001R05.edf' in data.train[1] (a copy of "
            "it, renamed or re-saved in another format: ")) as err:
        _check(cfg)
    assert "splits must not share a recording (its test figures would be in-sample)" in str(err.value)


def test_a_renamed_copy_is_refused_as_a_validation_file(tmp_path, data_present):  # noqa: F811
    copy = tmp_path / "renamed.edf"
    shutil.copy(data_present / "S001R06.edf", copy)
    cfg = _config(tmp_path, lambda t: t.replace("validation_tail_s = 12.0", f'validation = ["{copy}"]').replace(
        'tail_files = ["S001R06.edf"]', ""))
    with pytest.raises(ConfigError, match=re.escape(
            f"data.validation[0]: file '{copy}' holds the same samples as 'S001R06.edf' in data.train[0]")):
        _check(cfg)


def test_other_recordings_in_the_splits_are_accepted(tmp_path, data_present):  # noqa: F811
    _check(_config(tmp_path, lambda t: t))  # R06 + R05 train, R10 test: three runs


def test_the_cli_refuses_it_with_exit_2_before_training(tmp_path, r05_as_fif):
    from click.testing import CliRunner

    from bci_stream.cli import main

    p = tmp_path / "run.toml"
    p.write_text(tiny_config_text(tmp_path / "out").replace('test = ["S001R10.edf"]', f'test = ["{r05_as_fif}"]'),
                 encoding="utf-8")
    res = CliRunner().invoke(main, ["train", "--no-progress", str(p)])
    assert res.exit_code == 2, res.output
    assert "holds the same samples as 'S001R05.edf' in data.train[1]" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "out").exists()
