"""A cropped copy of a recording, or two overlapping pieces of one, is the same recording (researcher audit D7).

Before, the content checks recognised a copy of the same length only: ``calibrate`` took S00xR05 and the same file
cropped by 1 s (re-saved as FIF by mne) for two runs (its leave-one-run-out CV at 2 s rose to 0.84-0.87), ``train``
scored such a copy of a training file as its test set, and ``evaluate`` gave no in-sample warning for a training file
cropped by 0.5 s. Real files: the repository's S001 subset (21 channels, 160 Hz, 125 s), cropped here by mne.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

mne = pytest.importorskip("mne")

from bci_stream.cli import main  # noqa: E402
from bci_stream.io import load_recording  # noqa: E402
from bci_stream.io.recording import Recording  # noqa: E402
from bci_stream.train.classical.calibration_inputs import load_calibration  # noqa: E402
from bci_stream.train.classical.shared_stretch import Overlap, shared_stretch  # noqa: E402
from bci_stream.train.content_print import content_print  # noqa: E402
from bci_stream.train.evaluate.in_sample import card_training_files, in_sample_warnings  # noqa: E402
from support.common import SUBSET_S001_21CH, subset_file  # noqa: E402

R05, R06, R09, R10 = (SUBSET_S001_21CH / f"S001R{k:02d}.edf" for k in (5, 6, 9, 10))
LABELS = {"T1": "fists", "T2": "feet"}


def cropped(src: Path, dst: Path, tmin: float = 0.0, cut_end: float = 0.0, drop: int = 0,
            nonfinite: bool = False) -> Path:
    """``src`` cropped by mne (``tmin`` s off its start, ``cut_end`` s off its end), the ``drop`` channels that vary
    most left out (as the noisiest channels of a recording are), and saved as FIF; ``nonfinite``: 3 samples inf on
    every channel and 3 NaN on one (what a reader or an exporter may make of a few samples)."""
    raw = mne.io.read_raw_edf(subset_file(src), preload=True, verbose=False)
    raw.crop(tmin=tmin, tmax=raw.times[-1] - cut_end)
    if nonfinite:
        raw._data[:, 100:103] = np.inf
        raw._data[3, 5000:5003] = np.nan
    noisiest = np.argsort(-np.diff(raw.get_data(), axis=1).std(axis=1))[:drop]
    raw.drop_channels([raw.ch_names[i] for i in noisiest])
    raw.save(dst, verbose=False)
    return dst


def _piece(rec: Recording, start: int, stop: int | None, names: list[str] | None = None) -> Recording:
    return Recording(data=rec.data[:, start:stop], sfreq=rec.sfreq, ch_names=names or rec.ch_names,
                     source=f"{rec.source}[{start}:{stop}]")


def test_the_offset_of_a_cropped_or_overlapping_copy_is_found_and_other_runs_share_nothing() -> None:
    r05 = load_recording(subset_file(R05))
    n = r05.data.shape[1]
    assert shared_stretch(r05, _piece(r05, 160, None)) == Overlap(160, 0, n - 160)  # start cut by 1 s
    assert shared_stretch(_piece(r05, 160, None), r05) == Overlap(0, 160, n - 160)  # a crop of b
    assert shared_stretch(r05, _piece(r05, 0, n - 80)) == Overlap(0, 0, n - 80)  # end cut by 0.5 s
    assert shared_stretch(r05, _piece(r05, 333, n - 7)) == Overlap(333, 0, n - 340)  # both
    a, b = _piece(r05, 0, 15000), _piece(r05, 4000, None)  # a = x[0:15000], b = x[4000:20000]
    assert shared_stretch(a, b) == Overlap(4000, 0, 11000) and shared_stretch(b, a) == Overlap(0, 4000, 11000)
    numbered = [str(i) for i in range(len(r05.ch_names))]  # numbered channels: matched by position
    assert shared_stretch(_piece(r05, 0, None, numbered), _piece(r05, 500, None, numbered)) == Overlap(500, 0, n - 500)
    reordered = Recording(data=r05.data[::-1, 800:], sfreq=r05.sfreq, ch_names=r05.ch_names[::-1])  # by name
    assert shared_stretch(r05, reordered) == Overlap(800, 0, n - 800)
    assert shared_stretch(a, _piece(r05, 14900, None)) is None  # 100 samples (< 1 s) in common: too short to tell
    others = [load_recording(subset_file(f)) for f in (R06, R09, R10)]
    assert all(shared_stretch(x, y) is None for x in [r05] + others for y in [r05] + others if x is not y)
    half_rate = Recording(data=r05.data[:, 160:], sfreq=80.0, ch_names=r05.ch_names)
    assert shared_stretch(r05, half_rate) is None


def test_a_copy_with_a_few_samples_made_inf_or_nan_is_found_with_no_overflow_warning(tmp_path: Path) -> None:
    """Audit s61train F11: an inf was taken as 1.8e308, which made every correlation NaN (numpy's overflow warnings
    printed), and one changed value made a copy another recording: calibrate took it for a new run, train for a test
    file, evaluate gave no in-sample warning."""
    from bci_stream.train.content_print import found_in

    r05 = load_recording(subset_file(R05))
    copy = load_recording(cropped(R05, tmp_path / "r05_inf_raw.fif", tmin=1.0, nonfinite=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert shared_stretch(r05, copy) == Overlap(160, 0, r05.data.shape[1] - 160)
        assert shared_stretch(copy, r05) == Overlap(0, 160, r05.data.shape[1] - 160)
        assert found_in(content_print(r05), copy).start_printed == 160
        data = r05.data.copy()
        data[2] = np.nan  # a dead channel, NaN throughout (review s61 F3: then no probe window was taken)
        dead = Recording(data=data, sfreq=r05.sfreq, ch_names=r05.ch_names, source="dead")
        assert shared_stretch(dead, _piece(dead, 160, None)) == Overlap(160, 0, r05.data.shape[1] - 160)


@pytest.mark.parametrize("fill", [0.0, 4.5])
def test_two_flat_recordings_are_not_copies(fill: float) -> None:
    """A disconnected amplifier's runs (all zeros, or a constant) share every value at every offset: no recording."""
    from bci_stream.train.content_print import found_in

    a = Recording(data=np.full((8, 4000), fill), sfreq=160.0, ch_names=[f"E{i}" for i in range(8)])
    b = Recording(data=np.full((8, 3000), fill), sfreq=160.0, ch_names=[f"E{i}" for i in range(8)])
    assert shared_stretch(a, b) is None and shared_stretch(b, a) is None
    assert found_in(content_print(a), b) is None


def _cli(args: list[str]):
    return CliRunner().invoke(main, ["calibrate", "--no-progress", *args], catch_exceptions=False)


@pytest.mark.parametrize("how", ["start_1s", "start_1s_nonfinite", "end_0.5s", "overlap"])
def test_calibrate_refuses_a_cropped_copy_or_an_overlapping_piece(tmp_path: Path, how: str) -> None:
    """Before: accepted as two runs; leave-one-run-out then tested each fold on samples it was fitted on. A copy with
    a few samples inf or NaN too (audit s61train F11: before, 3 inf samples made it another run, with numpy's overflow
    warnings printed)."""
    first = subset_file(R05)
    if how.startswith("start_1s"):
        second = cropped(R05, tmp_path / "r05_crop_raw.fif", tmin=1.0, nonfinite=how.endswith("nonfinite"))
        at_first, at_second, secs = 1, 0, 124
    elif how == "end_0.5s":
        second, at_first, at_second, secs = cropped(R05, tmp_path / "r05_crop_raw.fif", cut_end=0.5), 0, 0, 124.5
    else:  # the first 80 s and the last 80 s of one recording: 35 s in common
        first = cropped(R05, tmp_path / "r05_head_raw.fif", cut_end=45.0)
        second, at_first, at_second, secs = cropped(R05, tmp_path / "r05_tail_raw.fif", tmin=45.0), 45, 0, 35
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow in the search (an inf taken as 1.8e308)
        res = _cli([str(first), str(subset_file(R06)), str(second), "--labels", "T1=fists,T2=feet", "--name", "dup",
                    "--out", str(tmp_path / "models")])
    assert res.exit_code == 2, res.output
    a, b = load_recording(first).source, load_recording(second).source
    assert (f"error: {b} shares samples with {a} ({secs:g} s of {b} (from {at_second:g} s, sample "
            f"{at_second * 160}) lie at {at_first:g} s (sample {at_first * 160}) of {a}: a cropped copy or an "
            f"overlapping recording, {secs * 160:g} samples at 160 Hz): every calibration file must be a different "
            "run") in res.output, res.output
    assert not (tmp_path / "models" / "dup").exists()


def test_calibrate_still_takes_three_different_runs() -> None:
    prep = load_calibration([subset_file(f) for f in (R05, R06, R09)], LABELS)
    assert len(prep.prints) == 3 and all(len(p["probes"]) >= 4 for p in prep.prints)


def test_evaluate_warns_of_a_training_file_cropped_by_half_a_second_from_the_card(tmp_path: Path) -> None:
    """The card's content print holds probes: a cropped copy of a training file is found by them (its first samples,
    which the print's statistics are of, differ, and so does its length)."""
    prints = [content_print(load_recording(subset_file(f))) for f in (R05, R06)]
    card = {"files": ["S001R05.edf", "S001R06.edf"], "files_content": json.loads(json.dumps(prints))}  # as stored
    assert len(json.dumps(card["files_content"][0])) < 4096  # a few KB per file
    start, end = cropped(R05, tmp_path / "start_raw.fif", tmin=0.5), cropped(R06, tmp_path / "end_raw.fif", cut_end=0.5)
    fewer = cropped(R05, tmp_path / "fewer_raw.fif", cut_end=1.0, drop=4)  # and its 4 noisiest channels left out
    files = [start, end, subset_file(R09), fewer]
    got = in_sample_warnings(files, card_training_files(card), [load_recording(f) for f in files])
    assert got == [
        "start_raw.fif holds samples of a training file of the model (card training.files: S001R05.edf; its 124.5 s "
        "from 0.5 s lie at 0 s of this file: a cropped copy or an overlapping recording): its figures are in-sample, "
        "not a test",
        "end_raw.fif holds samples of a training file of the model (card training.files: S001R06.edf; its 124.5 s "
        "from 0 s lie at 0 s of this file: a cropped copy or an overlapping recording): its figures are in-sample, "
        "not a test",
        "fewer_raw.fif holds samples of a training file of the model (card training.files: S001R05.edf; its 124 s "
        "from 0 s lie at 0 s of this file: a cropped copy or an overlapping recording): its figures are in-sample, "
        "not a test"]
    old = {**card, "files_content": [{k: v for k, v in p.items() if k != "probes"} for p in card["files_content"]]}
    assert in_sample_warnings(files, card_training_files(old), [load_recording(f) for f in files]) == []  # as before


def test_train_refuses_a_cropped_copy_of_a_training_file_as_its_test_file(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from bci_stream.train.config import ConfigError, load_config
    from bci_stream.train.dataset import check_data
    from support.train_data import tiny_config_text

    copy = cropped(R05, tmp_path / "r05_cut_raw.fif", tmin=1.0)
    p = tmp_path / "run.toml"
    p.write_text(tiny_config_text(tmp_path / "out").replace('test = ["S001R10.edf"]', f'test = ["{copy}"]'),
                 encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(
            f"data.test[0]: file '{copy}' shares samples with 'S001R05.edf' in data.train[1] (124 s of '{copy}' "
            "(from 0 s, sample 0) lie at 1 s (sample 160) of 'S001R05.edf': a cropped copy or an overlapping "
            "recording, 19840 samples at 160 Hz); splits must not share a recording (its test figures would be "
            "in-sample)")):
        check_data(load_config(p))


def test_evaluate_warns_end_to_end_for_a_calibration_file_cropped_by_half_a_second(tmp_path: Path) -> None:
    """calibrate writes the probes into the card; ``evaluate`` of that run cropped by 0.5 s warns (before: silent)."""
    models = tmp_path / "models"
    res = _cli([str(subset_file(R05)), str(subset_file(R06)), "--labels", "T1=fists,T2=feet", "--name", "crop",
                "--out", str(models), "--no-recurrent", "--no-average", "--channels", "C3,Cz,C4,Fc3,Fc4,Cp3,Cp4"])
    assert res.exit_code == 0, res.output
    copy = cropped(R06, tmp_path / "session2_raw.fif", cut_end=0.5)
    run = CliRunner().invoke(main, ["evaluate", "crop", "--models-dir", str(models), "--data", str(copy),
                                    "--data", str(subset_file(R10)), "--labels", "T1=fists,T2=feet"],
                             catch_exceptions=False)
    assert run.exit_code == 0, run.output
    warned = [line for line in run.output.splitlines() if line.startswith("warning:")]
    assert warned == ["warning: session2_raw.fif holds samples of a training file of the model (card training.files: "
                      "S001R06.edf; its 124.5 s from 0 s lie at 0 s of this file: a cropped copy or an overlapping "
                      "recording): its figures are in-sample, not a test"], run.output


def _drift(seconds: float, sfreq: float = 160.0, seed: int = 0) -> np.ndarray:
    """4 channels of random-walk 'EEG' (volts), ``seconds`` long."""
    return np.random.default_rng(seed).standard_normal((4, int(sfreq * seconds))).cumsum(axis=1) * 1e-6


def _rec(data: np.ndarray) -> Recording:
    return Recording(data=data, sfreq=160.0, ch_names=["C3", "C4", "Cz", "Pz"])


@pytest.mark.parametrize("crop_s", [1, 3, 8])
def test_a_crop_of_a_recording_that_starts_with_a_test_sine_is_found(crop_s: int) -> None:
    """10 s of an amplifier's 10 Hz test sine, then EEG: a probe at the start is found at every period of the sine
    (before: only the 8 best places were verified, and a crop by 1, 3 or 8 s was taken for another run); a later
    probe tells the places apart."""
    sine = np.tile(50e-6 * np.sin(2 * np.pi * 10 * np.arange(1600) / 160.0), (4, 1))
    x = np.concatenate([sine, _drift(120)], axis=1)
    cut = 160 * crop_s
    assert shared_stretch(_rec(x), _rec(x[:, cut:])) == Overlap(cut, 0, x.shape[1] - cut)


def test_a_training_file_with_a_dropout_in_a_probe_window_is_found_by_its_print() -> None:
    """A few NaN samples (a dropout) where a probe would be taken: the probe is taken elsewhere (before: stored with
    0 for NaN, it matched no copy, and evaluate said nothing of a copy of that file)."""
    from bci_stream.train.content_print import found_in

    x = _drift(60)
    printed = content_print(_rec(x))
    for p in printed["probes"][1:3]:
        x[:, p["at"] + 5:p["at"] + 8] = np.nan
    printed = content_print(_rec(x))
    assert all(np.isfinite(np.asarray(p["values"], dtype=float)).all() for p in printed["probes"])
    assert found_in(printed, _rec(x)) is not None and found_in(printed, _rec(x[:, 160:])) is not None


def test_the_bundled_models_card_finds_a_cropped_copy_of_a_training_file(tmp_path: Path) -> None:
    """The bundled eegmmidb-s001 (calibrate of S001R05/R06/R09/R10) was made before cards held probes, so a training
    file of it cropped by 0.5 s was scored as a test without a warning; its card holds them now (the prints calibrate
    writes: the statistics were already there, equal)."""
    from bci_stream.core.registry import ModelRegistry
    from support.common import REPO, SUBSET_R06

    card = ModelRegistry(REPO / "models").get("eegmmidb-s001").card
    assert all(len(p["probes"]) == 8 for p in card.training["files_content"])
    copy = cropped(SUBSET_R06, tmp_path / "r06_cut_raw.fif", tmin=0.5)
    got = in_sample_warnings([copy], card_training_files(card.training), [load_recording(copy)])
    assert got == [
        "r06_cut_raw.fif holds samples of a training file of the model (card training.files: S001R06.edf; its 124.5 s "
        "from 0.5 s lie at 0 s of this file: a cropped copy or an overlapping recording): its figures are in-sample, "
        "not a test"], got
