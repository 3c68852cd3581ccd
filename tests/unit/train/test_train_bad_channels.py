"""A channel a lab marked bad (FIF ``info['bads']``) through ``bci-stream train``'s data path and the NPZ format:
``data.crop_s`` keeps the mark (and the channels' types and units); without ``data.channels`` the trainer leaves a
channel any file marks bad out of the model, as ``calibrate`` does, and says so in the report's data notes; a
``data.channels`` that names it trains on it, and says that too. NPZ files write and read the mark; XDF cannot
carry it (said in ``save_xdf``). Real EEG: the repository's S001 subset (21 sensorimotor channels), R06 and R05
written by mne as FIF files with ``C4..`` marked bad, R10 as its EDF."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")
mne = pytest.importorskip("mne")

from bci_stream.io import load_recording, save_npz, save_xdf  # noqa: E402
from bci_stream.train.config import ConfigError, load_config  # noqa: E402
from bci_stream.train.dataset import crop, prepare_dataset  # noqa: E402
from support.common import subset_file  # noqa: E402
from support.marked import marked_fif  # noqa: E402
from support.train_data import CHANNELS, S001, tiny_config_text  # noqa: E402

BAD = "C4.."


def _fif(run: str, out: Path, bads: list[str]) -> Path:
    """``run`` of the subset written by mne as a FIF file with ``bads`` in ``info['bads']`` (events as annotations)."""
    return marked_fif(out / f"{Path(run).stem}_raw.fif", src=S001 / run, bads=bads)


@pytest.fixture(scope="module")
def fifs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("bads")
    return _fif("S001R06.edf", out, [BAD]), _fif("S001R05.edf", out, [])


def _config(tmp_path: Path, fifs: tuple[Path, Path], channels: list[str] | None):
    r06, r05 = fifs
    text = tiny_config_text(tmp_path / "out").replace(
        'train = ["S001R06.edf", "S001R05.edf"]', f'train = ["{r06}", "{r05}"]').replace(
        'tail_files = ["S001R06.edf"]', f'tail_files = ["{r06}"]')
    line = next(x for x in text.splitlines() if x.startswith("channels = "))
    text = text.replace(line, "" if channels is None else "channels = [" + ", ".join(f'"{c}"' for c in channels)
                        + "]")
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_crop_keeps_the_bad_mark_types_and_units(fifs: tuple[Path, Path]) -> None:
    rec = load_recording(fifs[0])
    part = crop(rec, (5.0, 20.0))
    assert part.bad_channels == [BAD] and part.ch_types == rec.ch_types and part.ch_units == rec.ch_units
    assert part.n_times == 15 * 160 and part.ch_names == rec.ch_names


def test_train_leaves_a_channel_marked_bad_out_and_says_so(tmp_path: Path, fifs: tuple[Path, Path]) -> None:
    ds = prepare_dataset(_config(tmp_path, fifs, None))
    assert len(ds.ch_names) == 20 and BAD not in ds.ch_names
    assert all(s.raw.shape[0] == 20 for split in (ds.train, ds.validation, ds.test) for s in split)
    assert ds.info["notes"] == [f"left out 1 channel(s) marked bad in the files: {BAD} ({fifs[0].name}); the model "
                                "does not use them (data.channels names the channels to use, marked bad or not)"]


def test_train_uses_a_bad_channel_data_channels_names_and_says_so(tmp_path: Path, fifs: tuple[Path, Path]) -> None:
    assert "C4" in CHANNELS
    ds = prepare_dataset(_config(tmp_path, fifs, CHANNELS))
    assert len(ds.ch_names) == len(CHANNELS) and BAD in ds.ch_names
    assert ds.info["notes"] == [f"data.channels uses 1 channel(s) marked bad in the files: {BAD} ({fifs[0].name}) "
                                "(read as any other channel)"]
    ds = prepare_dataset(_config(tmp_path, fifs, [c for c in CHANNELS if c != "C4"]))  # not named: nothing to say
    assert "notes" not in ds.info


def test_every_channel_marked_bad_is_refused(tmp_path: Path, fifs: tuple[Path, Path]) -> None:
    all_bad = _fif("S001R06.edf", tmp_path, load_recording(subset_file(S001 / "S001R06.edf")).ch_names)
    with pytest.raises(ConfigError, match=re.escape("data: every channel is marked bad in the files (")):
        prepare_dataset(_config(tmp_path, (all_bad, fifs[1]), None))


def test_npz_writes_and_reads_the_mark_and_xdf_cannot(tmp_path: Path, fifs: tuple[Path, Path]) -> None:
    rec = load_recording(fifs[0])
    assert load_recording(save_npz(rec, tmp_path / "r06.npz")).bad_channels == [BAD]
    assert load_recording(save_npz(rec.rows([0, 1, 2]), tmp_path / "three.npz")).bad_channels == []
    assert load_recording(save_xdf(rec, tmp_path / "r06.xdf")).bad_channels == []  # no such field in XDF
