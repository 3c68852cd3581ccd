"""calibrate's note on a sparse 10-20 cap and its amplitude warning on the card (audit s22, findings 3 and 4).

* A 19-channel 10-20 cap named as a clinical recorder names it (``EEG C3-REF``, ``EEG CZ-REF``, ...) has C3, Cz, C4
  on the FC/C/CP rows, fewer than the 6 a sensorimotor subset needs: the note said "no 10-10 sensorimotor channels
  recognised", though three are; it now says how many were recognised, which, and that with fewer than 6 every
  candidate uses all channels. Real EEG: the 19 10-20 positions of EEGMMIDB S001 R06 (tests/data, 64 channels).
* A FIF file written with ``mne.create_info``'s default ``misc`` type (no unit) holding volts reads as µV: calibrate
  warned of the amplitude (median channel SD ~5e-05 µV, "plausible if the values are in V") in its notes only; the
  card's ``metrics.warnings`` was ``[]`` and the summary's warnings beside the chance check did not show it. Real EEG:
  S001 R05 and R06 (tests/data, 21 channels), written in volts on ``misc`` channels. Printed once, in the summary
  (audit s52cal: it was also printed where the files were loaded).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.core.channels import pick_channels
from bci_stream.io import load_recording
from bci_stream.io.fif_writer import save_fif
from bci_stream.train.classical.calibration_inputs import load_calibration
from support.common import SUBSET_R06, SUBSET_S001_21CH, subset_file
from support.marked import FAST_CHANNELS

mne = pytest.importorskip("mne")

LABELS = {"T1": "fists", "T2": "feet"}
#: The 19 positions of the 10-20 system as EEGMMIDB names them (10-10: T7/T8/P7/P8), and as a clinical recorder
#: names the same electrodes (10-20: T3/T4/T5/T6, ``EEG <NAME>-REF``).
POSITIONS = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz", "P4", "P8",
             "O1", "O2"]
CLINICAL = [f"EEG {n.upper()}-REF" for n in
            ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz", "C4", "T4", "T5", "P3", "Pz", "P4", "T6",
             "O1", "O2"]]


def test_a_10_20_cap_note_names_the_sensorimotor_channels_recognised(tmp_path: Path) -> None:
    rec = load_recording(subset_file(SUBSET_R06))
    rec.data, _ = pick_channels(rec.data, rec.ch_names, POSITIONS)
    rec.ch_names, rec.ch_types, rec.ch_units = list(CLINICAL), None, None
    path = save_fif(rec, tmp_path / "clinical_raw.fif")
    notes = load_calibration([path], LABELS).notes
    note = [n for n in notes if "sensorimotor" in n]
    assert note == [
        "no 10-10 sensorimotor channels picked: only 3 of the FC/C/CP rows' 21 positions recognised (EEG C3-REF, "
        "EEG CZ-REF, EEG C4-REF) among the 19 channel names (EEG FP1-REF, EEG FP2-REF, EEG F7-REF, EEG F3-REF, "
        "EEG FZ-REF, EEG F4-REF ...); with fewer than 6 every candidate uses all of them (19 channels); pass "
        "--channels to choose"], notes


def test_volts_read_as_microvolts_are_warned_of_on_the_card_and_in_the_summary(tmp_path: Path) -> None:
    paths = []
    for run in ("S001R05.edf", "S001R06.edf"):
        rec = load_recording(subset_file(SUBSET_S001_21CH / run))
        info = mne.create_info([n.strip(".") for n in rec.ch_names], rec.sfreq, verbose="error")  # misc, no unit
        raw = mne.io.RawArray(rec.data * 1e-6, info, verbose="error")
        raw.set_annotations(mne.Annotations([e.onset / rec.sfreq for e in rec.events],
                                            [e.duration / rec.sfreq for e in rec.events],
                                            [e.description for e in rec.events]))
        raw.save(path := tmp_path / f"{run[:-4]}_misc_raw.fif", verbose="error")
        paths.append(str(path))
    models = tmp_path / "models"
    # one decoder picked among a few channels' candidates: what is checked is the unit warning, not the model
    res = CliRunner().invoke(main, ["calibrate", "--no-progress", "--no-recurrent", "--no-average", *paths, "--labels",
                                    "T1=fists,T2=feet", "--name", "volts", "--out", str(models), "--channels",
                                    ",".join(FAST_CHANNELS)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    card = json.loads((models / "volts" / "model.json").read_text())
    warned = card["metrics"]["warnings"]
    assert len(warned) == 2, warned
    for path, w in zip(paths, warned):
        assert w.startswith(f"{path}: the median channel standard deviation is "), w
        assert "outside the 0.5-5000 µV of scalp EEG (plausible if the values are in V): check the file's units" in w
    report = json.loads((models / "volts" / "report" / "report.json").read_text())
    assert report["warnings"] == warned
    summary = res.output[res.output.index("CV: "):]  # the summary after the table, beside the chance check's
    assert all(f"warning: {w}" in summary for w in warned), res.output
    assert all(res.output.count(w) == 1 for w in warned), res.output  # once: not also where the files are loaded
    assert "## Warnings" in (models / "volts" / "report" / "report.md").read_text()


def test_microvolts_saved_as_volts_are_refused_before_fitting(tmp_path: Path) -> None:
    """µV numbers in a FIF whose EEG channels declare volts (every value 1e6 times too large, a median channel SD of
    tens of volts): calibrate only warned of the unit and shipped a model; live, the service holds every value beyond
    ±1 V as corrupt, and the model answered one class (audit s46, a Muse recording). Now it refuses, naming the file,
    the SD, the service's limit and the factor."""
    paths = []
    for run in ("S001R05.edf", "S001R06.edf"):
        rec = load_recording(subset_file(SUBSET_S001_21CH / run))
        info = mne.create_info([n.strip(".") for n in rec.ch_names], rec.sfreq, ch_types="eeg", verbose="error")
        raw = mne.io.RawArray(rec.data, info, verbose="error")  # µV numbers, declared V
        raw.set_annotations(mne.Annotations([e.onset / rec.sfreq for e in rec.events],
                                            [e.duration / rec.sfreq for e in rec.events],
                                            [e.description for e in rec.events]))
        path = tmp_path / f"{run[:-4]}_raw.fif"
        raw.save(path, verbose="error")
        paths.append(str(path))
    res = CliRunner().invoke(main, ["calibrate", "--no-progress", *paths, "--labels", "T1=fists,T2=feet", "--name",
                                    "m", "--out", str(tmp_path / "models"), "--no-recurrent"])
    assert res.exit_code != 0 and not (tmp_path / "models" / "m").exists(), res.output
    assert "S001R05_raw.fif" in res.output and "beyond the ±1 V the service takes as EEG" in res.output, res.output
    assert ("(scalp EEG's if divided by 1e+06: µV numbers read as V (a file that declares V, or an EDF/BDF channel "
            "of blank physical dimension))") in res.output, res.output


def test_loading_warnings_are_said_when_calibrate_fails_after_loading(tmp_path: Path) -> None:
    """A run that fails after loading (here: a 40 Hz rate, below every candidate band's Nyquist need) still says
    what loading warned of (the values in V read as µV): before, the warnings were printed only in the summary that
    a failure never reaches (review s52rev F5)."""
    paths = []
    for run in ("S001R05.edf", "S001R06.edf"):
        rec = load_recording(subset_file(SUBSET_S001_21CH / run))
        info = mne.create_info([n.strip(".") for n in rec.ch_names], rec.sfreq / 4, verbose="error")  # misc, no unit
        raw = mne.io.RawArray(rec.data[:, ::4] * 1e-6, info, verbose="error")  # every 4th sample: 40 Hz
        raw.set_annotations(mne.Annotations([e.onset / rec.sfreq for e in rec.events],
                                            [e.duration / rec.sfreq for e in rec.events],
                                            [e.description for e in rec.events]))
        raw.save(path := tmp_path / f"{run[:-4]}_misc_40hz_raw.fif", verbose="error")
        paths.append(str(path))
    res = CliRunner().invoke(main, ["calibrate", "--no-progress", *paths, "--labels", "T1=fists,T2=feet", "--name",
                                    "slow", "--out", str(tmp_path / "models")], catch_exceptions=False)
    assert res.exit_code != 0, res.output
    assert "sampling rate 40 Hz" in res.output, res.output
    said = [line for line in res.output.splitlines() if "check the file's units" in line]
    assert len(said) == 2, res.output  # one per file, each once
    for path, line in zip(paths, said):
        assert line.startswith(f"warning: {path}: the median channel standard deviation is "), line
