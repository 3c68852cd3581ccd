"""Where the real EEG is found (`BCI_STREAM_DATA`, else ../shared/data beside the checkout), for every user of it:
a train config's `${BCI_STREAM_DATA}` root, the holdout study and latency_bench's 160 Hz phase, each of which names
the variable when the data is not there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bci_stream.io import data_root as dr
from bci_stream.train.config import ConfigError, load_config, parse_config
from support.common import REPO, SUBSET_R06

DATA = {"train": ["S001R06.edf"], "label_map": {"T1": "fists", "T2": "feet"}, "validation_tail_s": 10.0}


@pytest.fixture()
def data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder holding eegmmidb/S001/S001R06.edf (the repository's copy), named by BCI_STREAM_DATA."""
    root = tmp_path / "eeg data"
    (root / "eegmmidb" / "S001").mkdir(parents=True)
    shutil.copy(SUBSET_R06, root / "eegmmidb" / "S001" / "S001R06.edf")
    monkeypatch.setenv(dr.DATA_ENV, str(root))
    return root


def test_the_variable_names_the_folder_else_shared_data_beside_the_checkout(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dr.DATA_ENV, str(tmp_path))
    assert dr.data_root() == tmp_path
    monkeypatch.delenv(dr.DATA_ENV)
    assert dr.data_root() == REPO.parent / "shared" / "data" == dr.default_data_root()
    monkeypatch.setenv(dr.DATA_ENV, "  ")  # blank: as unset
    assert dr.data_root() == dr.default_data_root()


def test_the_classical_tools_use_the_same_helper() -> None:
    from bci_stream.train.classical import data

    assert data.data_root is dr.data_root and data.DATA_ENV == "BCI_STREAM_DATA"


def test_a_config_root_with_the_placeholder_follows_the_variable(data_folder: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "checkout" / "configs"  # the config's own folder plays no part
    elsewhere.mkdir(parents=True)
    config = parse_config({"name": "x", "data": {"root": "${BCI_STREAM_DATA}/eegmmidb/S001", **DATA}}, elsewhere)
    assert config.data_files("train") == [data_folder / "eegmmidb" / "S001" / "S001R06.edf"]
    assert config.data_files("train")[0].is_file()


def test_a_relative_root_stays_relative_to_the_config_file(data_folder: Path, tmp_path: Path) -> None:
    config = parse_config({"name": "x", "data": {"root": "eeg data/eegmmidb/S001", **DATA}}, tmp_path)
    assert config.data_files("train")[0] == data_folder / "eegmmidb" / "S001" / "S001R06.edf"


def test_other_placeholders_are_refused_naming_the_key(tmp_path: Path) -> None:
    for root in ("${HOME}/eeg", "data/${BCI_STREAM_DATA}/S001"):
        with pytest.raises(ConfigError, match=r"data\.root: .*only \$\{BCI_STREAM_DATA\}, at the start"):
            parse_config({"name": "x", "data": {"root": root, **DATA}}, tmp_path)


def test_the_shipped_config_uses_the_placeholder(data_folder: Path) -> None:
    config = load_config(REPO / "configs" / "eegmmidb-s001.toml")
    assert config.data.root == str(data_folder / "eegmmidb" / "S001")


def test_the_hint_names_the_variable_the_folder_and_where_to_download(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dr.DATA_ENV, str(tmp_path))
    assert f"BCI_STREAM_DATA={str(tmp_path)!r}" in dr.missing_data_hint()
    assert dr.EEGMMIDB_URL in dr.missing_data_hint()
    monkeypatch.delenv(dr.DATA_ENV)
    hint = dr.missing_data_hint()
    assert "BCI_STREAM_DATA is unset" in hint and str(dr.default_data_root()) in hint


def test_holdout_without_the_data_exits_2_naming_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from bci_stream.train.classical.holdout import main

    monkeypatch.setenv(dr.DATA_ENV, str(tmp_path))
    assert main(["--subjects", "S001", "--out", str(tmp_path / "out"), "--models", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}/eegmmidb/S001/S001R05.edf does not exist (and 3 more)" in err
    assert "set BCI_STREAM_DATA to the folder that holds eegmmidb/" in err and not (tmp_path / "out").exists()


def test_bench_refuses_real_eeg_asked_for_but_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from latency_bench.__main__ import main

    monkeypatch.setenv(dr.DATA_ENV, str(tmp_path))
    assert main(["e2e", "--seconds", "1", "--rounds", "1", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}/eegmmidb/S001/S001R04.edf does not exist" in err and "unset BCI_STREAM_DATA" in err
    assert not (tmp_path / "out").exists()


def test_bench_falls_back_to_simulated_eeg_saying_how_to_point_at_the_data(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from latency_bench.models import BenchModel, real_eeg_file, real_eeg_samples

    monkeypatch.delenv(dr.DATA_ENV, raising=False)
    monkeypatch.setattr(dr, "default_data_root", lambda: tmp_path / "none")
    assert real_eeg_file() is None
    model = BenchModel(ref="m@1", n_chans=2, sfreq=160.0, ch_names=["C3", "C4"], architecture={}, torch_config={},
                       state_dict=None, preprocessing={}, source="test")
    path, desc = real_eeg_samples(model, tmp_path / "x.npy", seconds=1.0)
    assert path.is_file() and desc.startswith("simulated EEG (")
    assert str(tmp_path / "none" / "eegmmidb" / "S001" / "S001R04.edf") in desc and "set BCI_STREAM_DATA" in desc


def test_a_relative_data_folder_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BCI_STREAM_DATA", "mydata")
    assert dr.data_root() == tmp_path / "mydata"  # not relative to a config file that names ${BCI_STREAM_DATA}


def test_a_missing_file_of_the_command_line_names_the_data_folder_where_it_helps(
        data_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """calibrate/evaluate/replay take their paths as given: a path relative to the data folder, run from elsewhere,
    is pointed at; a missing file inside the data folder says where the folder is looked for; others get neither."""
    from bci_stream.io import load_recording
    from bci_stream.io.errors import DataError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as exc:
        load_recording("eegmmidb/S001/S001R06.edf")
    held = data_folder / "eegmmidb" / "S001" / "S001R06.edf"
    assert str(exc.value) == ("path does not exist or is not a file: eegmmidb/S001/S001R06.edf (the data folder, "
                              f"BCI_STREAM_DATA, holds {held}: give that path)")
    with pytest.raises(DataError) as exc:
        load_recording(data_folder / "eegmmidb" / "S002" / "S002R06.edf")
    assert f"; real EEG is looked for under the data folder (BCI_STREAM_DATA={str(data_folder)!r})" in str(exc.value)
    monkeypatch.chdir(data_folder / "eegmmidb")  # the README's ``../shared/data/...`` form: a path with ``..`` in it
    with pytest.raises(DataError) as exc:
        load_recording(Path("..") / data_folder.name / "eegmmidb" / "S002" / "S002R06.edf")
    assert f"; real EEG is looked for under the data folder (BCI_STREAM_DATA={str(data_folder)!r})" in str(exc.value)
    monkeypatch.setenv("BCI_STREAM_DATA", str(Path("..") / data_folder.name))  # a relative data folder, '..' in it
    with pytest.raises(DataError) as exc:
        load_recording(Path("..") / data_folder.name / "eegmmidb" / "S002" / "S002R06.edf")
    assert "; real EEG is looked for under the data folder (BCI_STREAM_DATA=" in str(exc.value), str(exc.value)
    monkeypatch.setenv("BCI_STREAM_DATA", str(data_folder))
    with pytest.raises(DataError) as exc:
        load_recording(tmp_path / "elsewhere" / "S002R06.edf")
    assert str(exc.value) == f"path does not exist or is not a file: {tmp_path / 'elsewhere' / 'S002R06.edf'}"


def test_a_typo_in_a_files_name_in_a_folder_that_is_there_names_its_near_files_not_the_data_folder(
        data_folder: Path, tmp_path: Path) -> None:
    """Audit s43, F3: a file of one's own in the data folder, its name mistyped, sent the user to set BCI_STREAM_DATA
    to an EEGMMIDB download though it was set right. Its folder is there: the names near the one given are said."""
    from bci_stream.io import load_recording
    from bci_stream.io.errors import DataError

    mine = data_folder / "lab"
    mine.mkdir(exist_ok=True)
    for name in ("eeg1_1.dat", "eeg1_2.dat", "notes.txt"):
        (mine / name).write_bytes(b"")
    with pytest.raises(DataError) as exc:
        load_recording(mine / "eeg1_3.dat")
    assert str(exc.value) == (f"path does not exist or is not a file: {mine / 'eeg1_3.dat'} ({mine} has files named "
                              "like it: eeg1_1.dat, eeg1_2.dat: did you mean one of them?)")
    with pytest.raises(DataError) as exc:
        load_recording(mine / "zz.edf")
    assert str(exc.value) == (f"path does not exist or is not a file: {mine / 'zz.edf'} ({mine} has no file of a "
                              "name near it)")


def test_a_relative_path_the_data_folder_would_hold_gets_its_hints_there(
        data_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit s66cli F15: the README's relative form (``eegmmidb/S001/...``), run from another folder, got the bare
    "path does not exist" for a typo, and no word of the data folder when it was not there; the absolute form got
    both. Now a typo gets the names near it in the data folder's folder, and a folder the data folder lacks the
    sentence on where the data folder is looked for."""
    from bci_stream.io import load_recording
    from bci_stream.io.errors import DataError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as exc:
        load_recording("eegmmidb/S001/S001R99.edf")
    assert f"({data_folder / 'eegmmidb' / 'S001'} has files named like it: " in str(exc.value), str(exc.value)
    with pytest.raises(DataError) as exc:
        load_recording("eegmmidb/S999/S999R01.edf")
    assert f"; real EEG is looked for under the data folder (BCI_STREAM_DATA={str(data_folder)!r})" in str(exc.value)
