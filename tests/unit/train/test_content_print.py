"""Content prints of real recordings (the repository's S001 subset): the same samples are recognised in another file
(re-saved as FIF by mne with the channels reordered and some dropped), another run or a cut copy is not, and
``evaluate``'s in-sample check flags such a re-saved training file, which the files' sha256 cannot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

mne = pytest.importorskip("mne")

from bci_stream.core.card import sha256_file  # noqa: E402
from bci_stream.io import load_recording  # noqa: E402
from bci_stream.train.content_print import content_print, same_content  # noqa: E402
from bci_stream.train.evaluate.in_sample import card_training_files, in_sample_warnings  # noqa: E402
from support.common import SUBSET_S001_21CH, subset_file  # noqa: E402

R05, R06, R09 = (SUBSET_S001_21CH / f"S001R{k:02d}.edf" for k in (5, 6, 9))


def resaved(src: Path, dst: Path) -> Path:
    """``src`` written as FIF by mne, its channels in reverse order and the first three of those dropped."""
    raw = mne.io.read_raw_edf(subset_file(src), preload=True, verbose=False)
    names = raw.ch_names[::-1]
    raw.reorder_channels(names)
    raw.drop_channels(names[:3])
    raw.save(dst, verbose=False)
    return dst


def test_the_same_samples_are_recognised_in_another_format_and_order_and_nothing_else(tmp_path):
    r05 = load_recording(subset_file(R05))
    printed = json.loads(json.dumps(content_print(r05)))  # as a card holds it
    assert printed["n_times"] == r05.n_times and len(printed["rms"]) == len(r05.ch_names)
    assert same_content(printed, r05)
    copy = load_recording(resaved(R05, tmp_path / "r05_raw.fif"))
    assert copy.ch_names != r05.ch_names and copy.data.shape[0] == r05.data.shape[0] - 3
    assert same_content(printed, copy) and same_content(content_print(copy), r05)
    assert not any(same_content(printed, load_recording(subset_file(f))) for f in (R06, R09))  # other runs
    cut = load_recording(subset_file(R05))
    cut.data = cut.data[:, :-1]  # one sample fewer: not the same recording's samples
    assert not same_content(printed, cut)
    for bad in (None, {}, [], {"sfreq": 160.0}, {**printed, "rms": printed["rms"][:-1]}, {**printed, "sfreq": "x"}):
        assert not same_content(bad, r05), bad


def test_evaluate_flags_a_training_file_resaved_in_another_format(tmp_path):
    """Before: a training recording re-saved as FIF (other bytes, another channel order) was scored as a test file
    without a warning: only a byte-identical copy (sha256) or a file of the training file's name was caught."""
    copy_path = resaved(R05, tmp_path / "subject1-session1_raw.fif")
    card = {"files": ["S001R05.edf", "S001R06.edf"],
            "files_sha256": [sha256_file(subset_file(R05)), sha256_file(subset_file(R06))],
            "files_content": [content_print(load_recording(subset_file(f))) for f in (R05, R06)]}
    files = [copy_path, subset_file(R09)]
    got = in_sample_warnings(files, card_training_files(card), [load_recording(f) for f in files])
    assert got == ["subject1-session1_raw.fif holds the samples of a training file of the model (card "
                   "training.files: S001R05.edf; a copy in another format or channel order): its figures are "
                   "in-sample, not a test"]
    assert in_sample_warnings(files, card_training_files(card)) == []  # without the recordings: bytes only
