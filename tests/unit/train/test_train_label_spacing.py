"""`train` warns when cues come closer together than their labelled spans (log, report notes, the card's
metrics.warnings): a later cue's window overwrites an earlier one and spans of one class merge, so its "trials" are
not cues; and when the CSP+LDA reference's epoch reaches past the label window or the next cue. Before: silent (P300
flashes every 0.19 s with label_window [0, 0.6] made 213 "trials" of 720 cues). Real EEG (the repository's S001
subset) with markers set here: a cue every 0.5 s, classes a a b b a a ..., label_window [0, 1.0] s."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
mne = pytest.importorskip("mne")

from bci_stream.train.config import load_config  # noqa: E402
from support.train_data import CHANNELS, data_present  # noqa: E402, F401

ONSETS = [1.0 + 0.5 * i for i in range(76)]  # 1.0 .. 38.5 s of the first 40 s
CLASSES = ["a" if (i // 2) % 2 == 0 else "b" for i in range(len(ONSETS))]  # a a b b: pairs of one class merge


@pytest.fixture(scope="module")
def marked(tmp_path_factory, data_present) -> Path:  # noqa: F811
    """S001R05 and R06 (first 40 s) as FIF, their events replaced by cues every 0.5 s."""
    folder = tmp_path_factory.mktemp("marked")
    for run in ("S001R05", "S001R06"):
        raw = mne.io.read_raw_edf(data_present / f"{run}.edf", preload=True, verbose=False).crop(0, 40.0)
        raw.set_annotations(mne.Annotations(ONSETS, [0.0] * len(ONSETS), CLASSES))
        raw.save(folder / f"{run}_raw.fif", verbose=False)
    return folder


def _config_text(folder: Path, label_window: str, csp_window: str = "[0.5, 2.5]") -> str:
    return f"""
name = "spacing"
[data]
root = "{folder}"
train = ["S001R05_raw.fif"]
test = ["S001R06_raw.fif"]
validation_tail_s = 12.0
label_map = {{ a = "a", b = "b" }}
label_window = {label_window}
channels = {json.dumps(CHANNELS)}
[model]
hidden_size = 4
[training]
epochs = 1
min_epochs = 1
window_s = 1.0
segment_s = 6.0
threads = 1
[evaluation]
trial_times_s = [0.5]
bidirectional = false
lookaheads = []
csp_components = 2
csp_window_s = {csp_window}
[evaluation.distillation]
enabled = false
[output]
dir = "{folder / 'run'}"
[export]
dir = "{folder / 'model'}"
"""


def _warnings(folder: Path, tmp_path: Path, label_window: str, csp_window: str = "[0.5, 2.5]") -> list[str]:
    from bci_stream.train.dataset import prepare_dataset

    p = tmp_path / "run.toml"
    p.write_text(_config_text(folder, label_window, csp_window), encoding="utf-8")
    return prepare_dataset(load_config(p)).info.get("warnings", [])


OVERLAP = ("the labelled spans (data.label_window [0.0, 1.0] s after each cue) of 150 pair(s) of consecutive cues "
           "overlap: a later cue's window overwrites an earlier one (bci_stream/io/labels.py), and consecutive spans "
           "of one class merge into one trial, so the trials train and scores are not the cues (train: 76 cues -> 38 "
           "trials; test: 76 cues -> 38 trials of data.trial_classes)")
CSP = ("the CSP+LDA reference's epoch evaluation.csp_window_s [0.5, 2.5] s after each cue (decision at 2.5 s) reaches "
       "past the end of data.label_window [0.0, 1.0] s and is longer than 150 of the 150 gaps between consecutive "
       "cues (median 0.50 s), so its epochs hold the next cues' responses")


def test_overlapping_label_windows_and_a_long_csp_epoch_are_warned_of(tmp_path, marked):
    warnings = _warnings(marked, tmp_path, "[0.0, 1.0]")
    assert len(warnings) == 2
    assert warnings[0].startswith(OVERLAP) and warnings[1].startswith(CSP)


def test_windows_within_the_cue_spacing_give_no_warning(tmp_path, marked):
    assert _warnings(marked, tmp_path, "[0.0, 0.5]", "[0.0, 0.5]") == []


def test_the_run_log_report_and_card_say_it(tmp_path, marked):
    from click.testing import CliRunner

    from bci_stream.cli import main

    p = tmp_path / "run.toml"
    p.write_text(_config_text(marked, "[0.0, 1.0]"), encoding="utf-8")
    torch.set_num_threads(1)
    res = CliRunner().invoke(main, ["train", "--no-progress", "--overwrite", str(p)])
    assert res.exit_code == 0, res.output
    assert f"warning: {OVERLAP}" in res.output and f"warning: {CSP}" in res.output
    report = json.loads((marked / "run" / "report.json").read_text())
    assert any(n.startswith(OVERLAP) for n in report["notes"])
    card = json.loads((marked / "model" / "model.json").read_text())
    assert card["metrics"]["test"]["n_trials"] == 38  # the 76 cues of the test file, merged by pairs
    got = card["metrics"]["warnings"]
    assert any(w.startswith(OVERLAP) for w in got) and any(w.startswith(CSP) for w in got)
