"""Which files' bad marks decide the channels ``bci-stream train`` leaves out, and where the card and the report say
so. The files the model is fitted on decide: the training files, and the validation files (early stopping picks the
weights on them, the CSP+LDA reference is fitted on them); a channel only a test file marks bad stays in the model
and a note says so. Before the fix any file's mark (test files too) removed the channel from the model, and the
exported card did not list the channels left out; now its ``training`` gives ``notes`` (as ``calibrate``'s card
does) and ``channels_left_out``, and the run's report the same (``data.channels_left_out``, its notes).

Real EEG: the repository's S001 subset (21 sensorimotor channels), R06 and R10 written by mne as FIF files with
channels marked bad, R05 as its EDF; a real two-epoch training run with export."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
mne = pytest.importorskip("mne")

from bci_stream.core.card import CARD_FILE  # noqa: E402
from bci_stream.io import load_recording  # noqa: E402
from bci_stream.train.dataset import leave_out_bad_channels, prepare_dataset  # noqa: E402
from bci_stream.train.config import load_config  # noqa: E402
from support.common import subset_file  # noqa: E402
from support.marked import marked_fif  # noqa: E402
from support.train_data import S001, tiny_config_text  # noqa: E402

TRAIN_BAD, TEST_BAD = "C4..", "Cz.."


def _fif(run: str, out: Path, bads: list[str]) -> Path:
    """``run`` of the subset written by mne as a FIF file with ``bads`` in ``info['bads']`` (events as annotations)."""
    return marked_fif(out / f"{Path(run).stem}_raw.fif", src=S001 / run, bads=bads)


def _config(root: Path, r06: Path, r10: Path, *, export: bool):
    text = tiny_config_text(root / "run", export_dir=root / "models" / "tiny" if export else None,
                            bidirectional=False, lookaheads="[4]",
                            extra="csp_lda = false\n[evaluation.distillation]\nenabled = false")
    text = text.replace('train = ["S001R06.edf", "S001R05.edf"]', f'train = ["{r06}", "S001R05.edf"]').replace(
        'tail_files = ["S001R06.edf"]', f'tail_files = ["{r06}"]').replace(
        'test = ["S001R10.edf"]', f'test = ["{r10}"]')
    line = next(x for x in text.splitlines() if x.startswith("channels = "))
    path = root / "run.toml"
    path.write_text(text.replace(line, ""), encoding="utf-8")  # no data.channels: the marks decide
    return path


def test_a_mark_only_in_a_test_file_keeps_the_channel_and_is_noted(tmp_path: Path) -> None:
    r06, r10 = _fif("S001R06.edf", tmp_path, []), _fif("S001R10.edf", tmp_path, [TEST_BAD])
    ds = prepare_dataset(load_config(_config(tmp_path, r06, r10, export=False)))
    assert len(ds.ch_names) == 21 and TEST_BAD in ds.ch_names
    assert "channels_left_out" not in ds.info
    assert ds.info["notes"] == [
        f"test file(s) mark 1 channel(s) bad that no training or validation file marks: {TEST_BAD} ({r10.name}); "
        "the model uses them (the files it is fitted on decide its channels) and reads them in those test files "
        "as they are"]


def test_validation_files_decide_like_training_files_and_data_channels_still_overrides() -> None:
    recs = [load_recording(subset_file(S001 / r)) for r in ("S001R06.edf", "S001R05.edf", "S001R10.edf")]
    recs = [recs[0], replace(recs[1], bad_channels=[TRAIN_BAD]), replace(recs[2], bad_channels=[TEST_BAD])]
    kept, notes, left_out = leave_out_bad_channels(recs, None, [False, False, True])  # train, validation, test
    assert left_out == {TRAIN_BAD: ["S001R05.edf"]}
    assert all(r.n_chans == 20 and TRAIN_BAD not in r.ch_names and TEST_BAD in r.ch_names for r in kept)
    assert notes[0].startswith(f"left out 1 channel(s) marked bad in the files: {TRAIN_BAD} (S001R05.edf);")
    assert notes[1].startswith(f"test file(s) mark 1 channel(s) bad that no training or validation file marks: "
                               f"{TEST_BAD} (S001R10.edf);")
    # a channel marked in both a training and a test file: left out, said once
    both = [replace(recs[0], bad_channels=[TRAIN_BAD]), replace(recs[1], bad_channels=[]),
            replace(recs[2], bad_channels=[TRAIN_BAD])]
    _, notes, left_out = leave_out_bad_channels(both, None, [False, False, True])
    assert left_out == {TRAIN_BAD: ["S001R06.edf"]} and len(notes) == 1
    # data.channels names the channels to use, marked bad or not, in whichever file
    kept, notes, left_out = leave_out_bad_channels(recs, ["C3..", TRAIN_BAD, TEST_BAD], [False, False, True])
    assert kept is recs and left_out == {}
    assert notes == [f"data.channels uses 2 channel(s) marked bad in the files: {TEST_BAD} (S001R10.edf), "
                     f"{TRAIN_BAD} (S001R05.edf) (read as any other channel)"]


def test_the_card_and_the_report_list_the_channels_left_out(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bci_stream.cli import main

    r06, r10 = _fif("S001R06.edf", tmp_path, [TRAIN_BAD]), _fif("S001R10.edf", tmp_path, [TEST_BAD])
    cfg = _config(tmp_path, r06, r10, export=True)
    torch.set_num_threads(1)
    res = CliRunner().invoke(main, ["train", "--no-progress", str(cfg), "--export"])
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "models" / "tiny" / CARD_FILE).read_text(encoding="utf-8"))
    assert TRAIN_BAD not in card["ch_names"] and TEST_BAD in card["ch_names"] and len(card["ch_names"]) == 20
    assert card["training"]["channels_left_out"] == {TRAIN_BAD: [r06.name]}
    left, noted = card["training"]["notes"]
    assert left.startswith(f"left out 1 channel(s) marked bad in the files: {TRAIN_BAD} ({r06.name}); the model "
                           "does not use them")
    assert noted.startswith(f"test file(s) mark 1 channel(s) bad that no training or validation file marks: "
                            f"{TEST_BAD} ({r10.name})")
    report = json.loads((tmp_path / "run" / "report.json").read_text(encoding="utf-8"))
    assert report["data"]["channels_left_out"] == {TRAIN_BAD: [r06.name]}
    assert report["notes"][:2] == [left, noted]
    assert f"Note: {left}." in (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
