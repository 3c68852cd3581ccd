"""What calibrate makes of recordings as other labs write them (real EEG: tests/data, S001 R05/R06, 21 channels).

Channels named with a reference suffix (``EEG C3-REF``) are still the sensorimotor 10-10 channels; EOG/ECG channels
(by declared type or by name) are left out and said so; a file in the wrong unit is flagged; a corrupt or truncated
file is reported naming the file; BrainVision files load; ``--channel-names`` names numbered channels before picking.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import load_recording
from bci_stream.io.errors import DataError
from bci_stream.io.mne_formats import RecordingWarning
from bci_stream.train.classical.calibration_inputs import CalibrationError, load_calibration, parse_labels
from bci_stream.train.classical.data import sensorimotor_channels
from support.common import SUBSET_S001_21CH, subset_file
from support.xdf import write_xdf

mne = pytest.importorskip("mne")

R05, R06 = SUBSET_S001_21CH / "S001R05.edf", SUBSET_S001_21CH / "S001R06.edf"
LABELS = {"T1": "fists", "T2": "feet"}


def _as_clinical_fif(src: Path, out: Path, *, scale: float = 1e-6) -> Path:
    """``src`` as a FIF file named the clinical way (``EEG C3-REF``), plus an EOG channel (declared ``eog``) and an
    ECG channel declared ``eeg`` (only its name tells); data in volts times ``scale / 1e-6``."""
    rec = load_recording(subset_file(src))
    names = [f"EEG {n.strip('.').upper()}-REF" for n in rec.ch_names] + ["EOG1", "ECG"]
    data = np.vstack([rec.data, rec.data[:1], rec.data[1:2]]) * scale
    info = mne.create_info(names, rec.sfreq, ch_types=["eeg"] * rec.n_chans + ["eog", "eeg"], verbose="error")
    raw = mne.io.RawArray(data, info, verbose="error")
    raw.set_annotations(mne.Annotations([e.onset / rec.sfreq for e in rec.events],
                                        [e.duration / rec.sfreq for e in rec.events],
                                        [e.description for e in rec.events]))
    raw.save(out, overwrite=True, verbose="error")
    return out


def test_reference_suffixed_names_are_sensorimotor_and_eog_ecg_are_left_out(tmp_path: Path) -> None:
    paths = [_as_clinical_fif(r, tmp_path / f"{r.stem}_raw.fif") for r in (R05, R06)]
    assert load_recording(paths[0]).ch_types[-2:] == ["eog", "eeg"]
    prep = load_calibration(paths, LABELS)
    assert len(prep.ch_names) == 21 and not {"EOG1", "ECG"} & set(prep.ch_names)
    assert sensorimotor_channels(prep.ch_names) is not None and "EEG C3-REF" in prep.ch_names
    assert any("left out 2 channel(s) that are not EEG: EOG1 (type eog), ECG (name)" in n for n in prep.notes)
    assert not any(n.startswith("warning") for n in prep.notes)
    # asked for by name, an EOG channel is used
    assert load_calibration(paths, LABELS, channels=["C3", "EOG1"]).ch_names == ["EEG C3-REF", "EOG1"]


def test_a_file_in_the_wrong_unit_is_flagged(tmp_path: Path) -> None:
    paths = [_as_clinical_fif(r, tmp_path / f"{r.stem}_raw.fif", scale=1e-3) for r in (R05, R06)]  # mV written as V
    notes = load_calibration(paths, LABELS).notes
    flagged = [n for n in notes if n.startswith("warning") and "check the file's units" in n]
    assert len(flagged) == 2 and "median channel standard deviation is" in flagged[0]
    # µV written as V: beyond the service's ±1 V, refused (session 46; before, warned of and calibrated)
    paths = [_as_clinical_fif(r, tmp_path / f"{r.stem}_uv_raw.fif", scale=1.0) for r in (R05, R06)]
    with pytest.raises(CalibrationError, match="beyond the ±1 V the service takes as EEG"):
        load_calibration(paths, LABELS)


def test_names_that_are_not_10_10_say_all_channels_are_used(tmp_path: Path) -> None:
    rec = load_recording(subset_file(R05))
    info = mne.create_info([f"ch{i}" for i in range(rec.n_chans)], rec.sfreq, ch_types="eeg", verbose="error")
    raw = mne.io.RawArray(rec.data * 1e-6, info, verbose="error")
    raw.set_annotations(mne.Annotations([e.onset / rec.sfreq for e in rec.events], [0.0] * len(rec.events),
                                        [e.description for e in rec.events]))
    raw.save(tmp_path / "plain_raw.fif", verbose="error")
    notes = load_calibration([tmp_path / "plain_raw.fif"], LABELS).notes
    assert any("no 10-10 sensorimotor channels" in n and "all of them" in n for n in notes)


def test_corrupt_and_truncated_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "garbage_raw.fif"
    bad.write_bytes(b"\x00\x01not a fif file" * 100)
    with pytest.raises(DataError, match=r"cannot read .*garbage_raw.fif as a \.fif file: \w+"):
        load_recording(bad)
    with pytest.raises(CalibrationError, match="cannot load .*garbage_raw.fif"):
        load_calibration([bad], LABELS)
    src = subset_file(R05).read_bytes()
    cut = tmp_path / "cut.edf"
    cut.write_bytes(src[:int(len(src) * 0.6)])
    with pytest.warns(RecordingWarning, match="cut.edf: file truncated: header says 125 records of "):
        rec = load_recording(cut)
    assert 0 < rec.duration < load_recording(subset_file(R05)).duration


def test_brainvision_files_load(tmp_path: Path) -> None:
    rec = load_recording(subset_file(R05))
    stem = tmp_path / "run"
    x = (rec.data[:, :1600] / 0.1).round().astype("<i2")  # int16 at 0.1 µV resolution
    stem.with_suffix(".eeg").write_bytes(x.T.tobytes())
    chans = "\n".join(f"Ch{i + 1}={n.strip('.')},,0.1,µV" for i, n in enumerate(rec.ch_names))
    stem.with_suffix(".vhdr").write_text(
        "Brain Vision Data Exchange Header File Version 1.0\n[Common Infos]\nCodepage=UTF-8\nDataFile=run.eeg\n"
        f"MarkerFile=run.vmrk\nDataFormat=BINARY\nDataOrientation=MULTIPLEXED\nNumberOfChannels={rec.n_chans}\n"
        f"SamplingInterval={1e6 / rec.sfreq:g}\n[Binary Infos]\nBinaryFormat=INT_16\n[Channel Infos]\n{chans}\n",
        encoding="utf-8")
    stem.with_suffix(".vmrk").write_text(
        "Brain Vision Data Exchange Marker File, Version 1.0\n[Common Infos]\nCodepage=UTF-8\nDataFile=run.eeg\n"
        "[Marker Infos]\nMk1=Stimulus,T1,673,1,0\n", encoding="utf-8")
    got = load_recording(stem.with_suffix(".vhdr"))
    assert got.sfreq == rec.sfreq and got.n_chans == rec.n_chans and got.ch_types == ["eeg"] * rec.n_chans
    np.testing.assert_allclose(got.data, x * 0.1, atol=1e-9)
    assert [e.onset for e in got.events if "T1" in e.description] == [672]


def test_an_empty_pair_in_labels_is_refused() -> None:
    with pytest.raises(CalibrationError, match="no empty pair; got 'T1=a,,T2=b'"):
        parse_labels("T1=a,,T2=b")
    assert parse_labels("T1=a,T2=b,") == {"T1": "a", "T2": "b"}
    with pytest.raises(CalibrationError, match="; got --labels ''$"):  # audit s43: an empty one was "got neither"
        parse_labels("")
    with pytest.raises(CalibrationError, match="; got neither$"):
        parse_labels(None)


def test_an_event_mapped_to_nothing_is_read_as_evaluate_reads_it() -> None:
    """``EVENT=`` (an event known to cue no trial) was refused by calibrate and taken by evaluate, replay and a train
    config, so one label map could not serve all (audit s43, F6): it is taken, and the trials are the same."""
    assert parse_labels("1=hands,2=feet,0=") == {"1": "hands", "2": "feet", "0": None}
    assert parse_labels(None, ["T0=", "T1=fists", "T2=feet"]) == {"T0": None, "T1": "fists", "T2": "feet"}
    with pytest.raises(CalibrationError, match=r"at least two events to classes .*; got --labels '0=', --label 'T0='$"):
        parse_labels("0=", ["T0="])
    plain = load_calibration([R05, R06], LABELS)
    ignoring = load_calibration([R05, R06], {"T0": None, **LABELS})
    assert ignoring.labels == plain.labels == ["fists", "feet"] and len(ignoring.runs) == len(plain.runs) == 2
    for a, b in zip(ignoring.runs, plain.runs):
        np.testing.assert_array_equal(a.trials.onsets, b.trials.onsets)
        np.testing.assert_array_equal(a.trials.classes, b.trials.classes)


def _lab_xdf(src: Path, out: Path) -> Path:
    """``src`` as a LabRecorder file of two amplifiers and two marker streams (the cues, and another paradigm's):
    nothing in it says which to calibrate on, so the streams must be named."""
    from bci_stream.io.recording import UNIT

    rec = load_recording(subset_file(src))
    stamps = 100.0 + np.arange(rec.n_times) / rec.sfreq
    return write_xdf(out, stamps,
                     [("amp-a", "EEG", rec.ch_names, rec.sfreq, rec.data.T, UNIT),
                      ("amp-b", "EEG", rec.ch_names, rec.sfreq, rec.data[::-1].T * 3.0, UNIT)],
                     [("cues", stamps[[e.onset for e in rec.events]], [e.description for e in rec.events]),
                      ("other", stamps[[10]], ["T1"])])


def test_xdf_streams_are_named_by_reader_options_and_the_error_names_the_flag(tmp_path: Path) -> None:
    pytest.importorskip("pyxdf")
    from click.testing import CliRunner

    from bci_stream.train.classical.calibrate import calibrate_cmd

    xdfs = [_lab_xdf(R05, tmp_path / "r05.xdf"), _lab_xdf(R06, tmp_path / "r06.xdf")]
    with pytest.raises(CalibrationError, match=r"r05.xdf has 2 candidate streams; pass --stream NAME to choose one"):
        load_calibration(xdfs, LABELS)
    with pytest.raises(CalibrationError, match=r"2 candidate marker_streams; pass --marker-stream NAME to choose one"):
        load_calibration(xdfs, LABELS, reader_options={"stream": "amp-a"})
    with pytest.raises(CalibrationError, match=r"stream must name exactly one stream .* \(calibrate: --stream NAME\)"):
        load_calibration(xdfs, LABELS, reader_options={"stream": "amp-c"})
    prep = load_calibration(xdfs, LABELS, reader_options={"stream": "amp-a", "marker_stream": "cues"})
    ref = load_calibration([subset_file(R05), subset_file(R06)], LABELS)
    assert prep.ch_names == ref.ch_names
    for got, want in zip(prep.runs, ref.runs):
        np.testing.assert_allclose(got.data, want.data, atol=1e-9)
        np.testing.assert_array_equal(got.trials.onsets, want.trials.onsets)
        np.testing.assert_array_equal(got.trials.classes, want.trials.classes)
    # an option no file's format takes is refused, naming the flag (EDF files have one stream)
    with pytest.raises(CalibrationError, match=r"--stream applies to no file given: no file's format takes it"):
        load_calibration([subset_file(R05)], LABELS, reader_options={"stream": "amp-a"})
    res = CliRunner().invoke(calibrate_cmd, [str(xdfs[0]), "--labels", "T1=fists,T2=feet", "--name", "x",
                                             "--out", str(tmp_path / "models"), "--stream", "amp-a"])
    assert res.exit_code == 2 and "pass --marker-stream NAME to choose one" in res.output, res.output


# --- --channel-names: numbered channels named before picking -------------------------------------------------

def _numbered(tmp_path: Path) -> tuple[list[Path], list[str]]:
    """S001 R05/R06 (21 sensorimotor channels) as NPZ files whose channels are only numbered "1".."21" (what a
    BCI2000 .dat without its .loc gives), and the real names."""
    from bci_stream.io import Recording, save_npz

    paths, names = [], []
    for src in (R05, R06):
        rec = load_recording(subset_file(src))
        names = rec.ch_names
        numbered = Recording(rec.data, rec.sfreq, [str(i + 1) for i in range(rec.n_chans)], events=rec.events)
        paths.append(save_npz(numbered, tmp_path / f"{src.stem}_numbered.npz"))
    return paths, names


def test_channel_names_name_numbered_channels_before_the_sensorimotor_pick(tmp_path: Path) -> None:
    from bci_stream.train.classical.calibration_inputs import parse_channel_names

    paths, names = _numbered(tmp_path)
    before = load_calibration(paths, LABELS)
    assert before.ch_names == [str(i + 1) for i in range(21)] and sensorimotor_channels(before.ch_names) is None
    assert any("no 10-10 sensorimotor channels" in n for n in before.notes)
    listing = tmp_path / "names.txt"
    listing.write_text("# S001 cap, file order\n" + "\n".join(names) + "\n\n")
    loc = tmp_path / "cap.loc"
    loc.write_text("".join(f"{i + 1}\t{-60 + i}\t0.3\t{n}\r\n" for i, n in enumerate(names)))
    for text in (",".join(names), str(listing), str(loc)):
        assert parse_channel_names(text) == names, text
        prep = load_calibration(paths, LABELS, channel_names=parse_channel_names(text))
        assert prep.ch_names == names and sensorimotor_channels(prep.ch_names) is not None
        assert not any("no 10-10 sensorimotor channels" in n for n in prep.notes)
        assert any(n.startswith("renamed the 21 channels of every file by --channel-names: 1 -> Fc5., 2 -> Fc3.")
                   for n in prep.notes)
    np.testing.assert_array_equal(prep.runs[0].data, before.runs[0].data)  # the same samples, named


def test_channel_names_errors_name_the_option_the_file_and_the_counts(tmp_path: Path) -> None:
    from bci_stream.train.classical.calibration_inputs import parse_channel_names

    paths, names = _numbered(tmp_path)
    with pytest.raises(CalibrationError, match=re.escape(
            f"--channel-names must give one name per channel of {paths[0]} (21 channels, in the file's order); got "
            "20 name(s): Fc5., Fc3., Fc1., Fcz., Fc2., Fc4. ...")):
        load_calibration(paths, LABELS, channel_names=names[:20])
    with pytest.raises(CalibrationError, match=re.escape(
            "--channel-names must name every channel differently (compared after normalising); got 'C3..' and 'C3'")):
        load_calibration(paths, LABELS, channel_names=names[:-1] + ["C3"])
    with pytest.raises(CalibrationError, match=re.escape(
            "--channel-names must be a comma list of names or an existing file; 'missing.loc' looks like a file but "
            "there is none")):
        parse_channel_names("missing.loc")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(CalibrationError, match="--channel-names file .*empty.txt lists no channel name"):
        parse_channel_names(str(tmp_path / "empty.txt"))
    assert parse_channel_names(None) is None and parse_channel_names(" ") is None


def test_the_calibrate_command_takes_channel_names(tmp_path: Path) -> None:
    """The option reaches the loader (a count that does not match exits 2 with the message, before any fitting)."""
    from click.testing import CliRunner

    from bci_stream.cli import main

    paths, names = _numbered(tmp_path)
    res = CliRunner().invoke(main, ["calibrate", "--no-progress", *map(str, paths), "--labels", "T1=fists,T2=feet",
                                    "--name", "x", "--out", str(tmp_path), "--channel-names", ",".join(names[:3])],
                             catch_exceptions=False)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "error: --channel-names must give one name per channel of" in res.output and "got 3 name(s)" in res.output


def test_a_bci2000_file_without_its_loc_is_named_by_the_loc(tmp_path: Path) -> None:
    """The real BCI2000 motor runs (full data set), copied away from their eeg64.loc: channels "1".."64", no
    sensorimotor rows; named by ``--channel-names eeg64.loc``, as the loader names them beside it."""
    import shutil

    from bci_stream.train.classical.calibration_inputs import parse_channel_names
    from support.common import SHARED_DATA, require_full_data

    bci = SHARED_DATA / "bci2000"
    require_full_data(bci / "eeg1_1.dat", bci / "eeg1_2.dat", bci / "eeg64.loc")
    paths = [Path(shutil.copy(bci / f"eeg1_{k}.dat", tmp_path)) for k in (1, 2)]
    labels = {"1": "hands", "2": "feet"}
    bare = load_calibration(paths, labels)
    assert bare.ch_names[:3] == ["1", "2", "3"] and sensorimotor_channels(bare.ch_names) is None
    named = load_calibration(paths, labels, channel_names=parse_channel_names(str(bci / "eeg64.loc")))
    assert named.ch_names == load_recording(bci / "eeg1_1.dat").ch_names  # beside its .loc
    assert sensorimotor_channels(named.ch_names) is not None and named.ch_names[:2] == ["Fc5.", "Fc3."]


def test_a_channel_wired_twice_is_warned_of(tmp_path: Path) -> None:
    """Two channels carrying one signal (one input wired or mapped twice) made every candidate's spatial filters see
    one source twice, with no word (an audit: S002 with C4 a copy of C3). Now calibrate names the pair; the real runs,
    whose closest pair differs by 3 % or more of the median channel SD, get no such warning."""
    paths = []
    for r in (R05, R06):
        raw = mne.io.read_raw_edf(r, preload=True, verbose="error")
        c3, c4 = raw.ch_names.index("C3.."), raw.ch_names.index("C4..")
        data = raw.get_data()
        data[c4] = data[c3] + 1e-9 * np.random.default_rng(0).standard_normal(data.shape[1])  # 0.001 µV apart
        out = tmp_path / f"dup_{r.stem}_raw.fif"
        mne.io.RawArray(data, raw.info, verbose="error").set_annotations(raw.annotations).save(out, verbose="error")
        paths.append(out)
    notes = load_calibration(paths, LABELS).notes
    doubled = [n for n in notes if "carry one signal" in n]
    assert len(doubled) == 2 and all("channel pair(s) C3../C4.. carry one signal (their difference under 0.001 of "
                                     "the median channel SD" in n for n in doubled), notes
    assert not any("carry one signal" in n for n in load_calibration([R05, R06], LABELS).notes)


def test_repeated_labels_are_merged_as_evaluate_merges_them() -> None:
    """Audit s44b: ``calibrate --labels T1=fists --labels T2=feet`` kept the last one only (then refused one class);
    evaluate and replay merge them. An event mapped twice is refused, naming both values."""
    assert parse_labels(["T1=fists", "T2=feet"]) == {"T1": "fists", "T2": "feet"}
    assert parse_labels(["T1=fists"], ["T2=feet"]) == {"T1": "fists", "T2": "feet"}
    with pytest.raises(CalibrationError, match=r"event 'T1' is mapped twice: by --labels 'T1=fists' and by --labels "
                                               r"'T1=feet'"):
        parse_labels(["T1=fists", "T1=feet"])
    with pytest.raises(CalibrationError, match=r"; got --labels '', --labels 'T0='$"):
        parse_labels(["", "T0="])


def test_a_channel_names_file_saved_with_a_byte_order_mark_is_read_without_it(tmp_path: Path) -> None:
    """Notepad's UTF-8 (a BOM, CRLF lines): the first name was '\\ufeffFp1', so picking Fp1 failed with a list that
    showed 'Fp1' (audit s69io F8); an EEGLAB .loc file so saved likewise."""
    from bci_stream.io.channel_names import read_channel_names

    names = tmp_path / "names.txt"
    names.write_bytes("\ufeffFp1\r\nCz\r\nO2\r\n".encode("utf-8"))
    assert read_channel_names(str(names)) == ["Fp1", "Cz", "O2"]
    loc = tmp_path / "cap.loc"
    loc.write_bytes("\ufeff1\t0\t0.5\tFp1\r\n2\t90\t0\tCz\r\n".encode("utf-8"))
    assert read_channel_names(str(loc)) == ["Fp1", "Cz"]
