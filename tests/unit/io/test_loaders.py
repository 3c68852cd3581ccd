"""Loaders of bci_stream.io on real recordings, round trips and exact errors.

Data (``tests/support/common.py`` says where each file comes from): S001R06, the PhysioNet original shipped in
tests/data (``SUBSET_R06``), for every test that needs one real EDF; the other EEGMMIDB runs, the BCI2000 and
the EEGLAB samples from the full set (``../shared/data`` or ``$BCI_STREAM_DATA``): those tests call
``require_full_data`` (skip when it is absent; fail with ``BCI_STREAM_REQUIRE_DATA=1``, as in CI).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import (
    ChannelError,
    DataError,
    Event,
    LabelMapError,
    Recording,
    SfreqMismatchError,
    eegmmidb_label_map,
    eegmmidb_run,
    eegmmidb_task,
    events_summary,
    load_recording,
    load_recordings,
    non_eeg_reason,
    normalise_ch_name,
    save_npz,
)
from bci_stream.io.bci2000 import read_bci2000_raw
from bci_stream.io.mne_formats import save_fif
from bci_stream.io.xdf_writer import save_xdf
from support.bdf import write_bdf
from support.common import SHARED_DATA, SUBSET_R06, require_full_data, subset_file

MMI = SHARED_DATA / "eegmmidb" / "S001"  # full set
BCI = SHARED_DATA / "bci2000"  # full set
R06 = SUBSET_R06  # the original S001R06.edf, in the repository
EEG3_NAMES = ["Fz", "Cz", "P3", "Pz", "P4", "PO7", "Oz", "PO8"]


@pytest.fixture(scope="module")
def r06() -> Recording:
    return load_recording(subset_file(R06), label_map=eegmmidb_label_map(6))


def median_std(rec: Recording) -> float:
    return float(np.median(rec.data.std(axis=1)))


# --- channel names -----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("Fc5.", "FC5"), ("C3..", "C3"), ("Cz..", "Cz"), ("Fpz.", "Fpz"), ("Afz.", "AFz"), ("Poz.", "POz"),
    ("T10.", "T10"), ("EEG Cz", "Cz"), ("EEG-fc3", "FC3"), (" eeg_C4 ", "C4"), ("EEG:C1", "C1"), ("FP1", "Fp1"),
    ("Iz..", "Iz"),
    ("EOG1", "EOG1"), ("STI 014", "STI 014"), ("Status", "Status"),
    # a reference after the position, as clinical amplifiers and EDF exports write it; a bipolar pair is kept
    ("EEG C3-REF", "C3"), ("C3-A2", "C3"), ("Cz-Ref", "Cz"), ("C4 - M1", "C4"), ("Fc5.-LE", "FC5"),
    ("EEG Fp1-AVG", "Fp1"), ("C3-C4", "C3-C4"), ("A1", "A1"), ("EOG-REF", "EOG-REF"),
])
def test_normalise_ch_name(raw: str, expected: str) -> None:
    assert normalise_ch_name(raw) == expected


@pytest.mark.parametrize("name, ch_type, reason", [
    ("EOG1", None, "name"), ("VEOG", None, "name"), ("ECG", "eeg", "name"), ("EKG", None, "name"),
    ("EMG-L", None, "name"), ("STI 014", None, "name"), ("STI014", None, "name"), ("Status", None, "name"),
    ("TRIGGER", None, "name"), ("AUX1", None, "name"), ("Resp", None, "name"), ("Fp1", "eog", "type eog"),
    ("C3", None, None), ("Fp1", "eeg", None), ("EEG C3-REF", None, None), ("TP9", None, None), ("A1", None, None),
    ("T7", None, None), ("Iz", None, None),
])
def test_non_eeg_channels_by_type_or_name(name: str, ch_type: str | None, reason: str | None) -> None:
    assert non_eeg_reason(name, ch_type) == reason


# --- every real file, against the figures of shared/data/README.md ------------------------------------

@pytest.mark.parametrize("run", range(3, 13))
def test_eegmmidb_task_runs(run: int) -> None:
    path = subset_file(R06) if run == 6 else require_full_data(MMI / f"S001R{run:02d}.edf")
    rec = load_recording(path, label_map=eegmmidb_label_map(eegmmidb_run(str(path))))
    assert (rec.n_chans, rec.sfreq, rec.n_times, rec.duration) == (64, 160.0, 20000, 125.0)
    assert rec.ch_names[:3] == ["Fc5.", "Fc3.", "Fc1."]  # as the file gives them
    t1, t2 = eegmmidb_label_map(run)["T1"], eegmmidb_label_map(run)["T2"]
    assert rec.label_names == ["rest", t1, t2]
    counts = rec.label_counts()
    assert counts["rest"] == 15 and counts[t1] + counts[t2] == 15 and {counts[t1], counts[t2]} == {7, 8}
    summary = events_summary(rec.events)
    assert summary["T0"] == 15 and summary["T1"] + summary["T2"] == 15
    cue = [e.duration / rec.sfreq for e in rec.events]
    assert min(cue) >= 4.0 and max(cue) <= 4.3  # cues of 4.1-4.2 s
    assert 5.0 < median_std(rec) < 200.0  # µV, not V (1e-5) nor nV
    assert eegmmidb_task(run) == ("executed" if run in (3, 5, 7, 9, 11) else "imagined")


@pytest.mark.parametrize("run", [1, 2])
def test_eegmmidb_baselines(run: int) -> None:
    rec = load_recording(require_full_data(MMI / f"S001R{run:02d}.edf"), label_map=eegmmidb_label_map(run))
    assert (rec.n_chans, rec.sfreq, rec.duration) == (64, 160.0, 60.0)
    assert set(events_summary(rec.events)) == {"T0"}  # no task events
    assert rec.label_names == ["rest"] and (rec.labels == 0).all()
    assert eegmmidb_task(run) == "baseline"


def test_edf_is_microvolts_of_the_file(r06: Recording) -> None:
    import mne

    raw = mne.io.read_raw_edf(R06, preload=True, verbose="error")
    assert set(raw._orig_units.values()) == {"µV"}
    np.testing.assert_array_equal(r06.data, raw.get_data() * 1e6)


@pytest.mark.parametrize("name", ["eeg1_1", "eeg1_2"])
def test_bci2000_motor(r06: Recording, name: str) -> None:
    rec = load_recording(require_full_data(BCI / f"{name}.dat"), label_map={0: "rest", 1: "hands", 2: "feet"})
    assert (rec.n_chans, rec.sfreq) == (64, 160.0)
    assert rec.duration == pytest.approx(123, abs=0.5)
    assert rec.ch_names == r06.ch_names  # eeg64.loc: same cap and order as EEGMMIDB
    counts = rec.label_counts()
    assert counts["rest"] == 15 and counts["hands"] + counts["feet"] == 15
    assert 5.0 < median_std(rec) < 200.0


@pytest.mark.parametrize("name", ["eeg2_1", "eeg2_2"])
def test_bci2000_oddball(name: str) -> None:
    path = require_full_data(BCI / f"{name}.dat")
    rec = load_recording(path, type_state="StimulusType", label_map={"1": "target", "0": "nontarget"})
    assert (rec.n_chans, rec.sfreq) == (64, 160.0)
    assert rec.duration == pytest.approx(158, abs=0.5)
    assert rec.label_counts() == {"target": 20, "nontarget": 80}
    assert 5.0 < median_std(rec) < 200.0


@pytest.mark.parametrize("name", ["eeg3_1", "eeg3_2"])
def test_bci2000_speller(name: str) -> None:
    path = require_full_data(BCI / f"{name}.dat")
    rec = load_recording(path, type_state="StimulusType", label_map={"1": "target", "0": "nontarget"})
    assert (rec.n_chans, rec.sfreq, rec.ch_names) == (8, 256.0, EEG3_NAMES)
    assert rec.duration == pytest.approx(222, abs=0.5)
    assert events_summary(rec.events) == {"0": 600, "1": 120}  # 720 flashes, 120 targets
    assert rec.label_counts() == {"target": 120, "nontarget": 600}
    assert 5.0 < median_std(rec) < 200.0
    # 12 rows/columns (StimulusCode 1..12), each flashed 60 times
    codes = events_summary(load_recording(BCI / f"{name}.dat", include_zero=False).events)
    assert codes == {str(c): 60 for c in range(1, 13)}


def test_bci2000_scaling_and_states_by_hand() -> None:
    """µV = (raw − SourceChOffset) × SourceChGain, and bit-packed states, checked against the bytes."""
    path = require_full_data(BCI / "eeg1_1.dat", BCI / "eeg3_1.dat")
    data, sfreq, _names, states, header = read_bci2000_raw(path)
    blob = path.read_bytes()
    k, ch = 1234, 10
    block = 64 * 2 + 11
    raw = struct.unpack_from("<h", blob, header.header_len + k * block + ch * 2)[0]
    gain, offset = float(header.params["SourceChGain"][ch]), float(header.params["SourceChOffset"][ch])
    assert data[ch, k] == pytest.approx((raw - offset) * gain)
    sv = blob[header.header_len + k * block + 128: header.header_len + (k + 1) * block]
    assert states["StimulusCode"][k] == sv[8]  # StimulusCode 8 0 8 0: byte 8
    assert states["SourceTime"][k] == sv[1] | (sv[2] << 8)  # SourceTime 16 0 1 0
    # eeg3 packs 1-bit states at odd bit positions: Running (byte 29 bit 2) is on while recording
    _d, _s, _n, states3, _h = read_bci2000_raw(BCI / "eeg3_1.dat")
    assert states3["Running"].mean() > 0.99 and set(np.unique(states3["StimulusType"])) == {0, 1}


def test_eeglab() -> None:
    path = require_full_data(SHARED_DATA / "eeglab" / "eeglab_data.set", SHARED_DATA / "eeglab" / "eeglab_data.fdt")
    rec = load_recording(path)
    assert (rec.n_chans, rec.sfreq) == (32, 128.0)
    assert rec.duration == pytest.approx(238, abs=0.5)
    assert {"EOG1", "EOG2", "Cz"} <= set(rec.ch_names)
    assert events_summary(rec.events) == {"rt": 74, "square": 80}
    assert 5.0 < median_std(rec) < 200.0
    # markers have no duration: a label_window labels a span after each
    lab = load_recording(path, label_map={"square": "stim", "rt": None}, label_window=(0.0, 0.5))
    assert lab.label_counts() == {"stim": 80}
    assert (lab.labels == 0).sum() == 80 * 64


# --- labels ------------------------------------------------------------------------------------------

def test_label_map_order_ignore_and_window(r06: Recording) -> None:
    rec = load_recording(R06, label_map={"T2": "feet", "T0": None, "T1": "fists"})
    assert rec.label_names == ["feet", "fists"]  # order of first appearance among the values
    assert rec.label_counts() == {"feet": 8, "fists": 7}
    assert ((rec.labels == -1) == (r06.labels <= 0)).all()  # T0 ignored: unlabelled where r06 says rest
    win = load_recording(R06, label_map={"T1": "fists", "T2": "feet"}, label_window=(0.5, 2.5))
    assert np.bincount(win.labels + 1).tolist() == [20000 - 15 * 320, 7 * 320, 8 * 320]
    first_t1 = next(e for e in win.events if e.description == "T1")
    assert (win.labels[first_t1.onset + 80: first_t1.onset + 400] == 0).all()
    assert win.labels[first_t1.onset + 79] == -1 and win.labels[first_t1.onset + 400] == -1


def test_eegmmidb_label_maps() -> None:
    assert eegmmidb_label_map(4) == {"T0": "rest", "T1": "left_fist", "T2": "right_fist"}
    assert eegmmidb_label_map(10, rest=None) == {"T0": None, "T1": "fists", "T2": "feet"}
    assert eegmmidb_label_map(1) == {"T0": "rest"}
    assert eegmmidb_run("/x/S001R06.edf") == 6
    with pytest.raises(LabelMapError, match=re.escape("run must be an EEGMMIDB run number 1..14; got 15")):
        eegmmidb_label_map(15)


# --- channel selection -------------------------------------------------------------------------------

def test_ch_names_pick_and_reorder(r06: Recording) -> None:
    rec = load_recording(R06, ch_names=["Cz", "C3", "fc5", "C4.."])
    assert rec.ch_names == ["Cz..", "C3..", "Fc5.", "C4.."]
    rows = [r06.ch_names.index(n) for n in rec.ch_names]
    np.testing.assert_array_equal(rec.data, r06.data[rows])


def test_missing_channels_are_named(r06: Recording) -> None:
    msg = (f"ch_names has 2 channel(s) not in {R06}: XX1, Cz2 ({R06} has 64 channels: Fc5., Fc3., Fc1., Fcz., "
           "Fc2., Fc4., Fc6., C5.., C3.., C1.. ...)")
    with pytest.raises(ChannelError, match=re.escape(msg)):
        load_recording(R06, ch_names=["C3", "XX1", "Cz2"])
    with pytest.raises(ChannelError, match=re.escape("ch_names must not repeat a channel; got C3 more than once")):
        load_recording(R06, ch_names=["C3", "Cz", "C3"])
    with pytest.raises(ChannelError, match=re.escape("ch_names must not name the same channel twice")):
        load_recording(R06, ch_names=["C3", "C3.."])


def test_ambiguous_channel(tmp_path: Path) -> None:
    rec = Recording(np.zeros((3, 10)), 100.0, ["C3", "c3.", "Cz"])
    path = save_npz(rec, tmp_path / "amb.npz")
    with pytest.raises(ChannelError, match=re.escape(f"ch_names entry 'C3..' matches several channels of {path}: "
                                                     "['C3', 'c3.']")):
        load_recording(path, ch_names=["C3.."])
    twice = save_npz(Recording(np.zeros((3, 10)), 100.0, ["C3", "Cz", "C3"]), tmp_path / "twice.npz")
    with pytest.raises(ChannelError, match=re.escape("ch_names entry 'C3' matches several channels")):
        load_recording(twice, ch_names=["C3"])  # the same exact name twice: not silently the last one


# --- round trips -------------------------------------------------------------------------------------

def test_npz_round_trip(r06: Recording, tmp_path: Path) -> None:
    path = save_npz(r06, tmp_path / "r06")
    assert path.name == "r06.npz"
    back = load_recording(path)  # keeps the stored labels
    np.testing.assert_array_equal(back.data, r06.data)
    assert (back.sfreq, back.ch_names, back.label_names, back.events) == (
        r06.sfreq, r06.ch_names, r06.label_names, r06.events)
    np.testing.assert_array_equal(back.labels, r06.labels)
    relabelled = load_recording(path, label_map={"T1": "fists", "T2": "feet"})
    assert relabelled.label_counts() == {"fists": 7, "feet": 8}


def test_fif_round_trip(r06: Recording, tmp_path: Path) -> None:
    back = load_recording(save_fif(r06, tmp_path / "r06_raw.fif"), label_map=eegmmidb_label_map(6))
    np.testing.assert_allclose(back.data, r06.data, rtol=0, atol=1e-9)
    assert (back.sfreq, back.ch_names, back.events) == (r06.sfreq, r06.ch_names, r06.events)
    np.testing.assert_array_equal(back.labels, r06.labels)


def test_fif_cropped_by_mne_keeps_event_samples(r06: Recording, tmp_path: Path) -> None:
    """A FIF whose first sample is not 0 (cropped): onsets are counted from the file's first sample."""
    import mne

    raw = mne.io.read_raw_edf(R06, preload=True, verbose="error").crop(10.0, 60.0)
    assert raw.first_samp == 1600
    raw.save(tmp_path / "crop_raw.fif", verbose="error")  # float32 on disk
    rec = load_recording(tmp_path / "crop_raw.fif")
    assert rec.n_times == 8001
    np.testing.assert_allclose(rec.data, r06.data[:, 1600:9601], rtol=1e-6, atol=1e-3)
    inside = [Event(e.onset - 1600, e.duration, e.description) for e in r06.events if 1600 <= e.onset < 9601]
    assert rec.events[0] == Event(0, 400, "T0")  # the rest cue the crop cut: 8.3 s + 4.2 s − 10 s
    assert rec.events[1:-1] == inside[:-1]
    assert rec.events[-1] == Event(inside[-1].onset, 8001 - inside[-1].onset, inside[-1].description)  # cut too


def test_xdf_round_trip(r06: Recording, tmp_path: Path) -> None:
    path = save_xdf(r06, tmp_path / "r06.xdf")
    back = load_recording(path, label_map=eegmmidb_label_map(6), until_next=True)
    np.testing.assert_array_equal(back.data, r06.data)
    assert (back.sfreq, back.ch_names) == (r06.sfreq, r06.ch_names)
    assert [(e.onset, e.description) for e in back.events] == [(e.onset, e.description) for e in r06.events]
    assert back.label_counts() == r06.label_counts()
    # markers are instants: without until_next they have no duration and need a label_window
    with pytest.raises(LabelMapError, match=re.escape(
            f"label_map matches 30 events of {path}, but all have zero duration; give label_window=(start_s, stop_s)")):
        load_recording(path, label_map=eegmmidb_label_map(6))
    assert load_recording(path, label_map=eegmmidb_label_map(6), label_window=(0, 1)).label_counts() == \
        r06.label_counts()


def test_xdf_units_and_stream_choice(tmp_path: Path) -> None:
    from bci_stream.io.xdf_chunks import XdfWriter, stream_header_xml

    rng = np.random.default_rng(0)
    x_uv = rng.normal(0, 20, (500, 3))
    stamps = 50.0 + np.arange(500) / 250.0
    path = tmp_path / "two.xdf"
    with path.open("wb") as f:
        w = XdfWriter(f)
        w.add_stream(1, stream_header_xml("eeg", "EEG", ["C3", "Cz", "C4"], 250.0, "double64", unit="volts"),
                     "double64", 3)
        w.write_numeric(1, stamps, x_uv * 1e-6)
        w.add_stream(2, stream_header_xml("aux", "AUX", ["a"], 250.0, "float32"), "float32", 1)
        w.write_numeric(2, stamps, np.zeros((500, 1)))
        w.add_stream(3, stream_header_xml("cues", "Markers", ["m"], 0.0, "string"), "string", 1)
        w.write_strings(3, [50.1, 50.5, 99.0], ["left", "right", "late"])  # the last is after the signal ends
        for sid in (1, 2, 3):
            w.write_clock_offset(sid, 50.0, 0.0)
            w.write_clock_offset(sid, 52.0, 0.0)
            w.close_stream(sid)
    with pytest.raises(DataError, match=re.escape("two.xdf has 2 candidate streams; pass stream=<name> to choose one")):
        load_recording(path)
    rec = load_recording(path, stream="EEG")  # by type
    np.testing.assert_allclose(rec.data, x_uv.T, rtol=1e-12)  # volts → µV
    assert (rec.ch_names, rec.sfreq) == (["C3", "Cz", "C4"], 250.0)
    assert rec.events == [Event(25, 0, "left"), Event(125, 0, "right")]
    with pytest.raises(DataError, match=re.escape("stream must name exactly one stream of two.xdf by name or type; "
                                                  "'nope' matches 0")):
        load_recording(path, stream="nope")


def test_xdf_channels_in_other_units_are_kept_as_misc_and_mne_lsl_powers_of_ten_are_voltages(tmp_path: Path) -> None:
    """A LabRecorder file of an mne-lsl stream (units as powers of ten: ``0`` = V on an ``eeg`` channel) with a
    stim channel (``none``) and an accelerometer (``g``): the EEG loads in µV, the others stay as they are, with
    their units, the stim channel typed as declared and the accelerometer (declared ``misc``) ``misc``: calibrate
    leaves them out; a stream with no voltage channel at all is refused."""
    from bci_stream.io.xdf_chunks import XdfWriter, stream_header_xml
    from bci_stream.train.classical.calibration_inputs import eeg_channels

    rng = np.random.default_rng(3)
    x = rng.normal(0, 20, (300, 4))
    stamps = 5.0 + np.arange(300) / 100.0
    names, units, types = ["C3", "C4", "STI", "accX"], ["0", "-6", "none", "g"], ["eeg", "EEG", "stim", "misc"]
    path = tmp_path / "mixed.xdf"
    with path.open("wb") as f:
        w = XdfWriter(f)
        w.add_stream(1, stream_header_xml("amp", "EEG", names, 100.0, "double64", unit=units, ch_types=types),
                     "double64", 4)
        w.write_numeric(1, stamps, x * np.array([1e-6, 1.0, 1.0, 1.0]))
        w.add_stream(2, stream_header_xml("acc", "ACC", ["x"], 100.0, "double64", unit="g"), "double64", 1)
        w.write_numeric(2, stamps, x[:, :1])
        for sid in (1, 2):
            w.write_clock_offset(sid, 5.0, 0.0)
            w.close_stream(sid)
    rec = load_recording(path, stream="amp")
    np.testing.assert_allclose(rec.data, x.T, rtol=1e-12)
    assert rec.ch_types == ["eeg", "eeg", "stim", "misc"]
    assert rec.ch_units == ["microvolts", "microvolts", "none", "g"]
    assert eeg_channels(rec, notes := []) == ["C3", "C4"] and "left out 2 channel(s)" in notes[0]
    with pytest.raises(DataError, match=r"at least one channel; stream 'acc' has \['g'\]"):
        load_recording(path, stream="acc")


def test_xdf_desc_entries_are_read_by_position(tmp_path: Path) -> None:
    """A desc listing fewer channels than the samples have: the listed ones keep their labels and units (before,
    every label and unit was dropped, and a stream in volts read as µV); more entries than channels is an error;
    ``muV`` is a voltage; a channel typed ``MISC`` in volts is still in volts."""
    from bci_stream.io.xdf_chunks import XdfWriter, stream_header_xml

    x = np.random.default_rng(4).normal(0, 20, (200, 4))
    stamps = 1.0 + np.arange(200) / 100.0

    def write(path: Path, header: str) -> Path:
        with path.open("wb") as f:
            w = XdfWriter(f)
            w.add_stream(1, header, "double64", 4)
            w.write_numeric(1, stamps, x * 1e-6)
            w.write_clock_offset(1, 1.0, 0.0)
            w.close_stream(1)
        return path

    few = stream_header_xml("amp", "EEG", ["C3", "Cz", "C4", "Pz"], 100.0, "double64", unit="V").replace(
        "<channel><label>Pz</label><unit>V</unit></channel>", "")
    rec = load_recording(write(tmp_path / "few.xdf", few))
    assert rec.ch_names == ["C3", "Cz", "C4", "4"]
    np.testing.assert_allclose(rec.data[:3], x.T[:3], rtol=1e-12)  # in volts, read as µV
    np.testing.assert_allclose(rec.data[3], x.T[3] * 1e-6, rtol=1e-12)  # no entry: µV, the XDF convention
    many = stream_header_xml("amp", "EEG", ["C3", "Cz", "C4", "Pz", "Oz"], 100.0, "double64", unit="V").replace(
        "<channel_count>5</channel_count>", "<channel_count>4</channel_count>")
    with pytest.raises(DataError, match=r"stream 'amp': its desc lists 5 channels, more than the 4 its samples have"):
        load_recording(write(tmp_path / "many.xdf", many))
    mu = stream_header_xml("amp", "EEG", ["C3", "Cz", "C4", "Pz"], 100.0, "double64", unit="muV")
    np.testing.assert_allclose(load_recording(write(tmp_path / "mu.xdf", mu)).data, x.T * 1e-6, rtol=1e-12)
    typed = stream_header_xml("amp", "EEG", ["C3", "Cz", "C4", "Pz"], 100.0, "double64", unit="V",
                              ch_types=["MISC"] * 4)
    rec = load_recording(write(tmp_path / "typed.xdf", typed))
    np.testing.assert_allclose(rec.data, x.T, rtol=1e-12)
    assert rec.ch_types == ["misc"] * 4


def test_a_service_recording_gives_its_input_and_markers_without_options(tmp_path: Path) -> None:
    """A decoder's ``record_path`` session (the service's own Recorder) holds its input, the decoded outputs and
    provenance (numeric, at the input's rate), the service events and the followed markers (strings):
    ``calibrate`` (no stream options) must get the input and the markers, not refuse the file as ambiguous."""
    from bci_stream.service.recorder import Recorder

    rng = np.random.default_rng(1)
    x_uv = rng.normal(0, 20, (400, 3)).astype(np.float32)
    stamps = 10.0 + np.arange(400) / 160.0
    rec = Recorder(tmp_path / "session.xdf",
                   {"name": "eeg", "type": "EEG", "ch_names": ["C3", "Cz", "C4"], "sfreq": 160.0,
                    "channel_format": "float32", "source_id": "amp-1", "unit": "microvolts"},
                   {"name": "eeg-decoded", "labels": ["fists", "feet"], "sfreq": 160.0,
                    "source_id": "amp-1/decoded/0123456789ab", "model": {"name": "m", "version": "1", "sha256": "0"}})
    rec.event(10.0, "start", decoder_id="d")
    rec.marker_stream({"name": "eeg-markers", "type": "Markers", "source_id": "amp-1-markers", "hostname": "h"})
    for lo in range(0, 400, 5):
        rec.inputs(x_uv[lo:lo + 5], stamps[lo:lo + 5])
        rec.outputs(np.full((5, 2), 0.5, np.float32), stamps[lo:lo + 5], np.arange(lo, lo + 5), 0)
    for k, value in ((32, "T1"), (160, "T0"), (288, "T2")):
        rec.marker(stamps[k], value)
    rec.event(12.5, "stopped", samples_in=400)
    rec.close()
    loaded = load_recording(tmp_path / "session.xdf")
    assert (loaded.ch_names, loaded.sfreq, loaded.n_times) == (["C3", "Cz", "C4"], 160.0, 400)
    np.testing.assert_array_equal(loaded.data, x_uv.T.astype(np.float64))
    assert loaded.events == [Event(32, 0, "T1"), Event(160, 0, "T0"), Event(288, 0, "T2")]


def test_bdf_with_status_channel(r06: Recording, tmp_path: Path) -> None:
    """mne has no BDF writer here (mne.export needs edfio, not installed): a minimal 24-bit writer
    (tests/support/bdf.py)."""
    status = np.zeros(1600)
    status[160:320], status[800:960] = 1, 2
    path = write_bdf(tmp_path / "x.bdf", r06.data[:8, :1600], 160, r06.ch_names[:8], status)
    rec = load_recording(path, label_map={"1": "a", "2": "b"})
    assert (rec.ch_names, rec.sfreq, rec.n_times) == (r06.ch_names[:8], 160.0, 1600)  # Status is not data
    np.testing.assert_allclose(rec.data, r06.data[:8, :1600], atol=0.016)  # 24-bit step 1/32 µV
    assert rec.events == [Event(160, 160, "1"), Event(800, 160, "2")]
    assert rec.label_counts() == {"a": 1, "b": 1}


def test_gdf_reader_is_wired(tmp_path: Path) -> None:
    """No GDF writer exists here and no GDF file in shared/data: only the dispatch and its error are tested."""
    bad = tmp_path / "bad.gdf"
    bad.write_bytes(b"not a gdf file" * 20)
    with pytest.raises(DataError, match=re.escape(f"cannot read {bad} as a .gdf file")):
        load_recording(bad)


# --- load_recordings ---------------------------------------------------------------------------------

def test_load_recordings_same_rate_channels_and_labels(r06: Recording, tmp_path: Path) -> None:
    r10 = require_full_data(MMI / "S001R10.edf")
    recs = load_recordings([R06, r10], label_map=lambda p: eegmmidb_label_map(eegmmidb_run(p)))
    assert [r.label_counts()["rest"] for r in recs] == [15, 15]
    # a file whose channels come in another order is reordered to the first file's order
    rev = Recording(r06.data[::-1].copy(), 160.0, [normalise_ch_name(n) for n in r06.ch_names[::-1]])
    recs = load_recordings([R06, save_npz(rev, tmp_path / "rev.npz")])
    np.testing.assert_array_equal(recs[1].data, r06.data)
    assert recs[1].ch_names[:2] == ["FC5", "FC3"]


def test_load_recordings_refuses_mismatches(r06: Recording, tmp_path: Path) -> None:
    eeg3 = require_full_data(BCI / "eeg3_1.dat", MMI / "S001R04.edf")
    with pytest.raises(SfreqMismatchError, match=re.escape(
            f"sfreq must be the same in every recording (we refuse, not resample): {eeg3} has sfreq=256 Hz, "
            f"{R06} has 160 Hz")):
        load_recordings([R06, eeg3])
    sub = save_npz(Recording(r06.data[:62], 160.0, r06.ch_names[:62]), tmp_path / "sub.npz")
    with pytest.raises(ChannelError, match=re.escape(
            f"channels must be the same in every recording: {sub} lacks ['O2..', 'Iz..'] and has extra none "
            f"compared with {R06} (pass ch_names=[...] to pick a common set)")):
        load_recordings([R06, sub])
    assert [r.n_chans for r in load_recordings([R06, sub], ch_names=["C3", "C4"])] == [2, 2]
    r04 = MMI / "S001R04.edf"
    with pytest.raises(LabelMapError, match=re.escape(
            f"label_names must be the same in every recording: {r04} has ['rest', 'left_fist', 'right_fist'], "
            f"{R06} has ['rest', 'fists', 'feet']")):
        load_recordings([R06, r04], label_map=lambda p: eegmmidb_label_map(eegmmidb_run(p)))
    with pytest.raises(DataError, match=re.escape("paths must name at least one recording; got none")):
        load_recordings([])


# --- other errors ------------------------------------------------------------------------------------

def test_label_map_matching_nothing_lists_descriptions() -> None:
    require_full_data(MMI / "S001R01.edf")
    subset_file(R06)
    with pytest.raises(LabelMapError, match=re.escape(
            f"label_map matches no event of {R06}: keys ['T4', 'T5']; its event descriptions are "
            "'T0' ×15, 'T1' ×7, 'T2' ×8")):
        load_recording(R06, label_map={"T4": "a", "T5": "b"})
    r01 = MMI / "S001R01.edf"
    with pytest.raises(LabelMapError, match=re.escape(
            f"label_map matches no event of {r01}: keys ['T1', 'T2']; its event descriptions are 'T0' ×1")):
        load_recording(r01, label_map={"T1": "fists", "T2": "feet"})


def test_bad_arguments(tmp_path: Path) -> None:
    require_full_data(BCI / "eeg1_1.dat")
    subset_file(R06)
    with pytest.raises(DataError, match=re.escape("path must end in one of .bdf, .dat, .edf, .fif, .fif.gz, .gdf, "
                                                  ".npz, .set, .vhdr, .xdf, .xdf.gz, .xdfz; got 'x.csv'")):
        load_recording(tmp_path / "x.csv")
    with pytest.raises(DataError, match=re.escape(f"path does not exist or is not a file: {tmp_path / 'no.edf'}")):
        load_recording(tmp_path / "no.edf")
    with pytest.raises(DataError, match=re.escape(
            "unknown option(s) ['stat'] for .dat files; allowed: ['state', 'type_state', 'include_zero', 'loc_file']")):
        load_recording(BCI / "eeg1_1.dat", stat="StimulusCode")
    with pytest.raises(DataError, match=re.escape("state must be a state of eeg1_1.dat; got 'Nope', states are ")):
        load_recording(BCI / "eeg1_1.dat", state="Nope")
    with pytest.raises(LabelMapError, match=re.escape(
            "label_map values must be class names (str) or None; got 1 for key 'T1'")):
        load_recording(R06, label_map={"T1": 1})
    with pytest.raises(LabelMapError, match=re.escape(
            "label_window must be finite with stop_s > start_s; got (2.0, 1.0)")):
        load_recording(R06, label_map={"T1": "a"}, label_window=(2.0, 1.0))
    with pytest.raises(DataError, match=re.escape("label_window needs a label_map; got label_window without")):
        load_recording(R06, label_window=(0.0, 1.0))
    not_bci = tmp_path / "x.dat"
    not_bci.write_bytes(b"hello\nworld")
    with pytest.raises(DataError, match=re.escape(f"{not_bci} is not a BCI2000 file: its first line has no HeaderLen")):
        load_recording(not_bci)
