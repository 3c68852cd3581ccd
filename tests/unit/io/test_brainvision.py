"""BrainVision recordings (``.vhdr``/``.vmrk``/``.eeg``, as BrainVision Recorder writes them) of real EEG (S001 R05,
21 channels, 160 Hz) read as a lab's own files: units to µV exactly, each channel's type by label, markers as
``Stimulus/S  1`` points, ``New Segment`` pauses as events.

Before the fix (bci_stream/io/brainvision.py): a voltage unit mne does not spell (``μV`` with the Greek mu, ``UV``)
read as a ``misc`` channel, a ``µS`` channel read in siemens labelled µS (1e6 too small), a ``%`` channel's unit
read ``n/a``, ``VEOG``/``EOG``/``ECG``/``EMG1`` read as EEG, and a stimulus marker (size 1) labelled one sample
in ``train`` without a word (``data.label_window`` unasked). Before the fix in bci_stream/io/load.py a ``.eeg`` or
``.vmrk`` given for the recording was refused without saying that its ``.vhdr`` is the file to give.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import load_recording
from bci_stream.io.errors import DataError, LabelMapError
from bci_stream.io.labels import parse_label_list
from bci_stream.io.recording import UNIT
from support.brainvision import R05, STIMULI, subset_brainvision, write_brainvision
from support.common import subset_file

mne = pytest.importorskip("mne")

N = 1600  # 10 s at 160 Hz: cues T0 at 0, T2 at 672, T0 at 1328 (S001R05)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """S001R05's first N samples in µV, rounded to the 0.1 µV the files store."""
    return np.rint(load_recording(subset_file(R05)).data[:, :N] * 10) / 10


def test_the_writer_makes_files_mne_reads_as_written(tmp_path: Path, reference: np.ndarray) -> None:
    vhdr = subset_brainvision(tmp_path / "run", n_times=N)
    raw = mne.io.read_raw_brainvision(vhdr, preload=True, verbose="error")
    src = load_recording(subset_file(R05))
    assert raw.info["sfreq"] == 160.0 and raw.ch_names == [n.strip(".") for n in src.ch_names]
    np.testing.assert_allclose(raw.get_data() * 1e6, reference, rtol=0, atol=1e-9)
    cues = [(e.onset, f"Stimulus/{STIMULI[e.description]}") for e in src.events if e.onset < N]
    assert [(int(round(o * 160)), d) for o, d in zip(raw.annotations.onset, raw.annotations.description)] == cues


@pytest.mark.parametrize("fmt", ["INT_16", "IEEE_FLOAT_32"])
def test_every_voltage_unit_reaches_microvolts_exactly(tmp_path: Path, reference: np.ndarray, fmt: str) -> None:
    units = ["µV"] * 21
    units[1:8] = ["uV", "nV", "mV", "V", "μV", "UV", "microvolts"]  # μ: Greek mu, as some converters write it
    rec = load_recording(subset_brainvision(tmp_path / "run", n_times=N, units=units, fmt=fmt))
    assert rec.ch_units == [UNIT] * 21 and rec.ch_types == ["eeg"] * 21
    # INT_16: counts of 0.1 µV, exact; IEEE_FLOAT_32: float32's own rounding of the value in its unit (56e-6 V)
    np.testing.assert_allclose(rec.data, reference, rtol=0 if fmt == "INT_16" else 1.2e-7, atol=1e-9)


def test_other_units_keep_the_files_values_and_unit(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(0, 20, (5, 800))
    names, units = ["C3", "GSR", "Batt", "Temp", "Cz"], ["µV", "µS", "%", "C", "µV"]
    rec = load_recording(write_brainvision(tmp_path / "aux", x, 200.0, names, units=units, fmt="IEEE_FLOAT_32",
                                           resolutions=[1.0] * 5))
    assert rec.ch_units == [UNIT, "µS", "%", "C", UNIT]
    assert rec.ch_types == ["eeg", "misc", "misc", "misc", "eeg"]
    np.testing.assert_allclose(rec.data, x.astype(np.float32), rtol=1e-12)  # µS in µS, not in siemens


def test_eog_ecg_emg_channels_take_the_type_their_label_names(tmp_path: Path) -> None:
    names = ["C3", "VEOG", "HEOG", "EOG", "HEOGL", "ECG", "EKG", "EMG1", "Resp", "Cz"]
    x = np.random.default_rng(1).normal(0, 20, (len(names), 400))
    rec = load_recording(write_brainvision(tmp_path / "types", x, 200.0, names))
    assert rec.ch_types == ["eeg", "eog", "eog", "eog", "eog", "ecg", "ecg", "emg", "resp", "eeg"]
    assert rec.ch_units == [UNIT] * len(names)


def test_stimulus_markers_are_points_that_a_label_map_names_as_mne_does(tmp_path: Path) -> None:
    vhdr = subset_brainvision(tmp_path / "run")
    src = load_recording(subset_file(R05))
    rec = load_recording(vhdr)
    want = [(e.onset, 0, f"Stimulus/{STIMULI[e.description]}") for e in src.events]
    assert [(e.onset, e.duration, e.description) for e in rec.events] == want
    labels = parse_label_list("Stimulus/S  1=fists,Stimulus/S  2=feet")  # the --labels value, two spaces kept
    with pytest.raises(LabelMapError, match="zero duration; give label_window"):
        load_recording(vhdr, label_map=labels)  # one labelled sample per cue, silently, before the fix
    got = load_recording(vhdr, label_map=labels, label_window=(0.0, 4.0))
    cue = next(e.onset for e in src.events if e.description == "T1")
    assert got.label_names == ["fists", "feet"] and (got.labels[cue:cue + 640] == 0).all()


def test_a_marker_with_a_size_keeps_its_duration(tmp_path: Path) -> None:
    x = np.random.default_rng(2).normal(0, 20, (2, 800))
    marks = [("Bad Interval", "Bad Min-Max", 300, 50), ("Comment", "left,hand", 400, 1)]
    rec = load_recording(write_brainvision(tmp_path / "m", x, 200.0, ["C3", "C4"], markers=marks))
    assert [(e.onset, e.duration, e.description) for e in rec.events] == [
        (300, 50, "Bad Interval/Bad Min-Max"), (400, 0, "Comment/left,hand")]


def test_a_new_segment_after_the_start_is_an_event_at_the_pause(tmp_path: Path) -> None:
    rec = load_recording(subset_brainvision(tmp_path / "run", new_segments=[8000]))
    assert [(e.onset, e.duration) for e in rec.events if e.description == "New Segment/"] == [(8000, 0)]


def test_an_ansi_header_with_the_micro_sign_reads_in_microvolts(tmp_path: Path) -> None:
    x = np.random.default_rng(3).normal(0, 20, (2, 400))
    vhdr = write_brainvision(tmp_path / "ansi", x, 200.0, ["C3", "GSR"], units=["µV", "µS"])
    text = vhdr.read_text(encoding="utf-8").replace("Codepage=UTF-8", "Codepage=ANSI")
    vhdr.write_bytes(text.encode("cp1252"))  # older Recorder versions: µ is the single byte 0xB5
    rec = load_recording(vhdr)
    assert rec.ch_units == [UNIT, "µS"]
    np.testing.assert_allclose(rec.data, np.rint(x * 10) / 10, rtol=0, atol=1e-9)


@pytest.mark.parametrize("part", [".eeg", ".vmrk"])
def test_a_brainvision_data_or_marker_file_given_for_the_recording_names_its_header(tmp_path: Path, part: str) -> None:
    vhdr = subset_brainvision(tmp_path / "run", n_times=N)
    with pytest.raises(DataError, match=r"got 'run\%s' \(a BrainVision recording is read from its header: give "
                       r"run\.vhdr\)$" % part):
        load_recording(vhdr.with_suffix(part))


def test_a_marker_line_cut_short_is_named(tmp_path: Path) -> None:
    """A .vmrk whose last line a recorder stopped while writing (``Mk3=Stimulus,S``): mne said only 'not enough
    values to unpack' (audit s69io F10); the refusal names the marker file, the line and what it lacks."""
    x = np.random.default_rng(3).normal(0, 20, (2, 800))
    vhdr = write_brainvision(tmp_path / "m", x, 200.0, ["C3", "C4"], markers=[("Stimulus", "S  1", 300, 1)])
    vmrk = tmp_path / "m.vmrk"
    text = vmrk.read_text(encoding="utf-8").rstrip("\r\n")
    lines = text.splitlines()
    vmrk.write_text(text + "\n" + f"Mk{len([s for s in lines if s.startswith('Mk')]) + 1}=Stimulus,S", encoding="utf-8")
    with pytest.raises(DataError, match="m.vmrk: marker line [0-9]+ \\('Mk[0-9]+=Stimulus,S'\\) has 2 of the comma-"
                       "separated fields type, description, position, size \\(then channel\\): it is the file's last "
                       "line, cut short"):
        load_recording(vhdr)
