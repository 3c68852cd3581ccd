"""What the trainer refuses once it has read the recordings, before it trains (real EEG: S001 from the repository's
subset, EEGLAB's tutorial data from the full set), and the EEGLAB/XDF options (`data.label_window`,
`[data.reader]`) that let it read formats whose events have no duration."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("mne")

from bci_stream.core.errors import DataError  # noqa: E402
from bci_stream.train.config import ConfigError, load_config  # noqa: E402
from support.common import SHARED_DATA, require_full_data, subset_file  # noqa: E402
from support.train_data import CHANNELS, S001, tiny_config_text  # noqa: E402

EEGLAB = SHARED_DATA / "eeglab" / "eeglab_data.set"


@pytest.fixture(scope="module")
def s001() -> Path:
    """The repository's S001 subset (tests/data), which the tiny configs read."""
    for run in ("S001R05.edf", "S001R06.edf", "S001R10.edf"):
        subset_file(S001 / run)
    return S001


def _config(tmp_path: Path, edit=lambda t: t, **kwargs):
    p = tmp_path / "run.toml"
    p.write_text(edit(tiny_config_text(tmp_path / "out", **kwargs)), encoding="utf-8")
    return load_config(p)


def _prepare(cfg):
    from bci_stream.train.dataset import prepare_dataset

    return prepare_dataset(cfg)


# -- finding 2: a validation tail as long as the recording, a training part without every class -------------

def test_a_validation_tail_longer_than_the_recording_is_refused(tmp_path, s001):
    cfg = _config(tmp_path, lambda t: t.replace("validation_tail_s = 12.0", "validation_tail_s = 300.0"))
    with pytest.raises(ConfigError, match=r"data.validation_tail_s must be shorter than each recording it cuts "
                                          r"\(data.tail_files, default data.train\): got 300 s, but S001R06.edf is "
                                          r"40 s long"):
        _prepare(cfg)


def test_a_training_part_without_every_class_is_refused(tmp_path, s001):
    # R06's first 40 s (the crop), all but the first cue held out: R06's training part is one rest segment.
    cfg = _config(tmp_path, lambda t: t.replace("validation_tail_s = 12.0", "validation_tail_s = 37.0").replace(
        'train = ["S001R06.edf", "S001R05.edf"]', 'train = ["S001R06.edf"]\nvalidation = ["S001R05.edf"]'))
    with pytest.raises(ConfigError, match=re.escape(
            "data.train: the training part has no segment of class(es) ['fists', 'feet'] (segments per class: "
            "{'rest': 1, 'fists': 0, 'feet': 0}); data.validation_tail_s = 37 s holds out the end of S001R06.edf; "
            "a class needs training data")):
        _prepare(cfg)


def test_a_training_part_with_fewer_than_4_trials_of_a_class_is_warned_of(tmp_path, s001):
    """Audit s68train F6: a net fitted on 3 (or 2) trials of a class was trained, tested and exported with no word
    but the chance check's; the warning goes into the run's notes and the card's metrics.warnings (ds.info)."""
    cfg = _config(tmp_path, lambda t: t.replace("crop_s = [0.0, 40.0]", "crop_s = [0.0, 30.0]"))
    assert _prepare(cfg).info["warnings"] == [
        "data.train: the training part holds fewer than 4 trials of class(es) ['feet', 'fists'] (trials per class: "
        "{'rest': 7, 'fists': 3, 'feet': 3}); data.validation_tail_s = 12 s holds out the end of S001R06.edf: a "
        "decoder fitted on so few trials of a class is a guess; calibration runs of 15 or more trials per class are "
        "usual"]
    assert "warnings" not in _prepare(_config(tmp_path)).info  # 40 s of each run: 4 and more


def test_a_validation_tail_without_every_trial_class_is_refused(tmp_path, s001):
    # R06's last 8 s (of the 40 s crop) hold one fists cue and no feet cue: early stopping would score one class.
    cfg = _config(tmp_path, lambda t: t.replace("validation_tail_s = 12.0", "validation_tail_s = 8.0"))
    with pytest.raises(ConfigError, match=re.escape(
            "data.validation_tail_s: the validation data hold no trial of class(es) ['feet'] of data.trial_classes "
            "(trials per class: {'fists': 1, 'feet': 0}); data.validation_tail_s = 8 s holds out the end of "
            "S001R06.edf; early stopping on validation data without a class")):
        _prepare(cfg)


def test_validation_files_without_every_trial_class_are_refused(tmp_path, rest_only_fif_of_no_split):
    edit = lambda t: t.replace(  # noqa: E731
        "validation_tail_s = 12.0", f'validation = ["{rest_only_fif_of_no_split}"]')
    with pytest.raises(ConfigError, match=re.escape(
            "data.validation: the validation data hold no trial of class(es) ['fists', 'feet'] of "
            "data.trial_classes (trials per class: {'fists': 0, 'feet': 0}); early stopping")):
        _prepare(_config(tmp_path, edit))


# -- finding 3: a label_map event that no file has -------------------------------------------------------------

def test_a_label_map_event_in_no_file_is_refused(tmp_path, s001):
    cfg = _config(tmp_path, lambda t: t.replace('T2 = "feet"', 'T3 = "feet"'))
    with pytest.raises(ConfigError, match=re.escape("data.label_map names event(s) ['T3'] that occur in none of the "
                                                    "files (their events: ['T0', 'T1', 'T2'])")):
        _prepare(cfg)


# -- finding 12: test files without trials of the trial classes ------------------------------------------------

@pytest.fixture(scope="module")
def rest_only_fif(tmp_path_factory, s001) -> Path:
    """S001R10's first 4 s (its first rest cue, no fists/feet cue), as a FIF file."""
    from bci_stream.io import Event, load_recording
    from bci_stream.io.mne_formats import save_fif
    from bci_stream.train.dataset import crop

    rec = crop(load_recording(S001 / "S001R10.edf"), (0.0, 4.0))
    assert {e.description for e in rec.events} == {"T0"}
    rec.events = [Event(e.onset, min(e.duration, rec.n_times - e.onset), e.description) for e in rec.events]
    return save_fif(rec, tmp_path_factory.mktemp("rest") / "S001R10-rest_raw.fif")


@pytest.fixture(scope="module")
def rest_only_fif_of_no_split(tmp_path_factory, rest_only_fif) -> Path:
    """:func:`rest_only_fif` with its values negated: a rest-only recording whose samples are in no split (S001R10,
    the test file, holds the original's, and train refuses a piece of a test file as validation data)."""
    from bci_stream.io import load_recording
    from bci_stream.io.mne_formats import save_fif

    rec = load_recording(rest_only_fif)
    rec.data = -rec.data
    return save_fif(rec, tmp_path_factory.mktemp("rest-negated") / "rest-negated_raw.fif")


def test_test_files_without_trials_of_the_trial_classes_are_refused_before_training(tmp_path, rest_only_fif):
    from click.testing import CliRunner

    from bci_stream.cli import main

    edit = lambda t: t.replace('test = ["S001R10.edf"]', f'test = ["{rest_only_fif}"]')  # noqa: E731
    cfg = _config(tmp_path, edit)
    with pytest.raises(ConfigError, match=re.escape(
            "data.test: the test files hold no trial of class(es) ['fists', 'feet'] of data.trial_classes (trials "
            "per class: {'fists': 0, 'feet': 0}); a test accuracy needs trials of every trial class")):
        _prepare(cfg)
    res = CliRunner().invoke(main, ["train", "--no-progress", str(tmp_path / "run.toml")])
    assert res.exit_code == 2 and "error: data.test: the test files hold no trial" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "out").exists()  # refused before anything is written


# -- finding 13: filters at or above Nyquist ----------------------------------------------------------------------

@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("[model]", "[preprocessing]\nbandpass = [8.0, 90.0]\n\n[model]"),
     "preprocessing.bandpass must lie below Nyquist (80 Hz for the data's 160 Hz), got [8.0, 90.0]"),
    (lambda t: t.replace("[model]", "[preprocessing]\nnotch = 100.0\n\n[model]"),
     "preprocessing.notch must lie below Nyquist (80 Hz for the data's 160 Hz), got 100.0"),
    (lambda t: t.replace("csp_components = 2", "csp_components = 2\ncsp_band = [8.0, 80.0]"),
     "evaluation.csp_band must lie below Nyquist (80 Hz for the data's 160 Hz), got [8.0, 80.0]"),
])
def test_filters_at_or_above_nyquist_are_config_errors(tmp_path, s001, edit, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        _prepare(_config(tmp_path, edit))


# -- finding 18: EEGLAB (label_window) and XDF ([data.reader]) ------------------------------------------------

def _eeglab_text(out: Path, extra: str = "") -> str:
    return f"""
name = "eeglab-tiny"
[data]
root = "{EEGLAB.parent}"
train = ["eeglab_data.set"]
validation_tail_s = 60.0
label_map = {{ square = "square", rt = "rt" }}
channels = ["C3", "Cz", "C4", "CP1", "CP2"]
{extra}
[model]
hidden_size = 4
[training]
epochs = 1
min_epochs = 1
window_s = 1.0
segment_s = 8.0
threads = 1
[evaluation]
bidirectional = false
lookaheads = []
csp_lda = false
[evaluation.distillation]
enabled = false
[output]
dir = "{out}"
[export]
enabled = false
"""


def test_eeglab_trains_with_a_label_window(tmp_path):
    from bci_stream.train.run import run_file

    require_full_data(EEGLAB, EEGLAB.with_suffix(".fdt"))
    bare = tmp_path / "bare.toml"
    bare.write_text(_eeglab_text(tmp_path / "bare"))
    with pytest.raises(DataError, match=re.escape("but all have zero duration; give label_window=(start_s, stop_s) "
                                                  "to label a span after each onset (in the run config: "
                                                  "data.label_window = [start_s, stop_s])")):
        _prepare(load_config(bare))
    path = tmp_path / "eeglab.toml"
    path.write_text(_eeglab_text(tmp_path / "run", "label_window = [0.0, 0.5]"))
    ds = _prepare(load_config(path))
    assert ds.sfreq == 128.0 and ds.label_names == ["square", "rt"] and len(ds.ch_names) == 5
    (train,), (val,) = ds.train, ds.validation
    assert train.n_times + val.n_times == 30504
    n_square = int(((train.labels == 0) & np.r_[True, train.labels[1:] != train.labels[:-1]]).sum())
    assert n_square > 50 and (train.labels == 1).any() and (val.labels == 0).any()
    report = run_file(path, progress=False, log=lambda *a: None)
    assert set(report["models"]) == {"causal"}
    assert report["models"]["causal"]["validation"]["n_trials"] > 0  # trials of both classes in the held-out tail
    from bci_stream.train.evaluate.offline import evaluate_target

    res = evaluate_target(str(tmp_path / "run" / "checkpoint.pt"), [EEGLAB])  # read as trained: the label window
    assert res["metrics"]["n_trials"] > 50 and res["warnings"]  # (and it says the file is a training file)


def _xdf_from(rec, path: Path, markers: str) -> Path:
    """``rec`` as an XDF file as the service records one: an EEG stream, a second numeric stream and two marker
    streams (the cues, and another), so the reader needs ``stream`` and ``marker_stream``."""
    from bci_stream.io.recording import UNIT
    from support.xdf import write_xdf

    stamps = 100.0 + np.arange(rec.n_times) / rec.sfreq
    return write_xdf(path, stamps,
                     [("eeg", "EEG", rec.ch_names, rec.sfreq, rec.data.T, UNIT),
                      ("eeg-aux", "AUX", ["a", "b"], rec.sfreq, np.zeros((rec.n_times, 2)), "")],
                     [(markers, stamps[[e.onset for e in rec.events]], [e.description for e in rec.events]),
                      ("other-events", stamps[[10]], ["noise"])])


def test_xdf_recordings_train_with_reader_options_beside_edf(tmp_path, s001):
    pytest.importorskip("pyxdf")
    from bci_stream.io import load_recording

    rec = load_recording(S001 / "S001R06.edf", ch_names=CHANNELS)
    xdf = _xdf_from(rec, tmp_path / "r06.xdf", "cues")

    def edit(reader: str):
        return lambda t: (t.replace('train = ["S001R06.edf", "S001R05.edf"]', f'train = ["{xdf}", "S001R05.edf"]')
                          .replace('tail_files = ["S001R06.edf"]', f'tail_files = ["{xdf}"]')
                          .replace("\n[model]", f"\n{reader}\n[model]"))

    hint = r".*\(in the run config: \[data.reader\] stream = \"<name>\"\)"
    with pytest.raises(DataError, match=re.escape("r06.xdf has 2 candidate streams; pass stream=<name>") + hint):
        _prepare(_config(tmp_path, edit("")))
    with pytest.raises(ConfigError, match=re.escape("data.reader: option(s) ['until_nxt'] are taken by no reader of "
                                                    "these files (options per format: .xdf: stream, marker_stream, "
                                                    "until_next, zero; .edf: none)")):
        _prepare(_config(tmp_path, edit('[data.reader]\nstream = "eeg"\nmarker_stream = "cues"\nuntil_nxt = true')))
    ds = _prepare(_config(tmp_path, edit('[data.reader]\nstream = "eeg"\nmarker_stream = "cues"\nuntil_next = true')))
    ref = _prepare(_config(tmp_path))  # the same recordings, R06 as EDF
    assert [q.name.replace("r06", "S001R06") for q in ds.train] == [q.name for q in ref.train]
    for a, b in zip(ds.train + ds.validation + ds.test, ref.train + ref.validation + ref.test):
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.x, b.x, rtol=1e-5, atol=1e-5)


# -- audit s14 D8: a missing file and a channel not in the file name their config key -----------------------------

def test_a_missing_data_file_names_its_split_key_and_entry(tmp_path, s001):
    cfg = _config(tmp_path, lambda t: t.replace('test = ["S001R10.edf"]', 'test = ["S001R10.edf", "S001R99.edf"]'))
    with pytest.raises(ConfigError, match=re.escape(
            f"data.test[1] = 'S001R99.edf' is not a file: {s001 / 'S001R99.edf'} (data.root '{s001}' + the entry, "
            "relative to the config file's folder)")):
        _prepare(cfg)


def test_a_channel_not_in_the_file_is_named_as_data_channels(tmp_path, s001):
    from bci_stream.core.errors import ChannelError

    cfg = _config(tmp_path, lambda t: t.replace('"Fc4"]', '"Fc4", "Xx9"]'))
    with pytest.raises(ChannelError, match=r"^data.channels has 1 channel\(s\) not in .*S001R06.edf: Xx9 "):
        _prepare(cfg)


def test_a_file_missing_under_the_data_folder_names_bci_stream_data(tmp_path, s001, monkeypatch):
    monkeypatch.setenv("BCI_STREAM_DATA", str(tmp_path / "nowhere"))
    cfg = _config(tmp_path, lambda t: re.sub(r'root = "[^"]*"', 'root = "${BCI_STREAM_DATA}/eegmmidb/S001"', t))
    missing = r"is not a file: .*nowhere/eegmmidb/S001/S001R0\d\.edf .*set BCI_STREAM_DATA"
    with pytest.raises(ConfigError, match=missing):
        _prepare(cfg)
