"""A ``--name`` too long for a folder is refused before any work, in one line (audit s51).

Before: ``calibrate --name <240 characters>`` loaded and cross-validated every file, then failed writing the model's
staging folder ``.NAME.writing-XXXXXXXX`` beside ``OUT/NAME`` with a traceback (``OSError: [Errno 36] File name too
long``), exit code 1. The model folder's writer now says such an error in one line too (``FolderWriteError``), for
``train``, whose names come from its config.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.train.export.folder_swap import FolderWriteError, write_folder
from support.common import SUBSET_S001_21CH

R05, R06 = SUBSET_S001_21CH / "S001R05.edf", SUBSET_S001_21CH / "S001R06.edf"


def _calibrate(tmp_path: Path, name: str):
    return CliRunner().invoke(main, ["calibrate", "--no-progress", str(R05), str(R06), "--labels", "T1=fists,T2=feet",
                                     "--name", name, "--out", str(tmp_path / "models")], catch_exceptions=False)


def test_a_name_too_long_is_refused_before_loading(tmp_path: Path) -> None:
    res = _calibrate(tmp_path, "s" * 240)
    assert res.exit_code == 2, res.output
    assert "--name must be at most 200 characters" in res.output
    assert "got 240 characters" in res.output
    assert "calibrating" not in res.output  # refused before the files were read
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_write_folder_says_a_name_too_long_in_one_error(tmp_path: Path) -> None:
    with pytest.raises(FolderWriteError, match="cannot be written: .*File name too long"):
        write_folder(tmp_path / ("m" * 250), lambda staging: None, replaced=())
