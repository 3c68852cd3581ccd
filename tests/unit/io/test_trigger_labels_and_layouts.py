"""Which EDF channels are trigger channels, and EDF header layouts whose trigger codes are read from the file
(``trigger_channels._edf_stim_channels``, ``edf_file._edf_signal``, ``_edf_header``), on small hand-written EDFs.

Before these rules: a channel labelled ``STIM``/``TRIG`` was a stim channel whatever it held, so an EEG channel with
that label left the data (a model trained on it no longer loaded the file) and a ``TRIG`` faster than the EEG put
mne's sfreq off; a file with 0.1-s records and a wider annotation signal, a comma-decimal header, or a header
record count below the file's silently fell back to mne's truncated codes; a comma-decimal header lost a ``degC``
channel's unit.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import Event, load_recording
from bci_stream.io.errors import DataError, RecordingWarning
from bci_stream.io.mne_formats import _edf_dimensions, _edf_header
from bci_stream.io.recording import UNIT
from support.edf import Signal, annotations, write_edf

pytest.importorskip("mne")

SFREQ = 160
N_RECORDS = 60
RNG = np.random.default_rng(7)


def _eeg(label: str = "C3", *, n: int = SFREQ, n_records: int = N_RECORDS, pmin: str = "-3276.8",
         pmax: str = "3276.7", dim: str = "uV") -> Signal:
    return Signal(label, dim, pmin, pmax, n, RNG.integers(-2000, 2000, n * n_records))


def _codes(n_times: int, width: int) -> np.ndarray:
    """Codes 1, 2, 3, 1, 2, 3, each ``width`` samples long, every eighth of the file."""
    codes = np.zeros(n_times, np.int64)
    for i, code in enumerate((1, 2, 3, 1, 2, 3)):
        at = (i + 1) * n_times // 8
        codes[at:at + width] = code
    return codes


def _trigger(codes: np.ndarray, *, label: str = "Trigger", n: int = SFREQ, dim: str = "", pmax: float = 100.0,
             pmax_text: str | None = None) -> Signal:
    """A trigger signal over the physical range 0..``pmax`` (code 1 is stored as 0.99946, 3 as 2.99992)."""
    digital = np.rint(codes * 65535 / pmax - 32768).astype(np.int64)
    return Signal(label, dim, "0", pmax_text or f"{pmax:g}", n, digital)


def _expected(codes: np.ndarray) -> list[Event]:
    starts = np.flatnonzero(np.diff(np.r_[0, codes]) != 0)
    ends = np.r_[starts[1:], codes.size]
    return [Event(int(s), int(e - s), str(codes[s])) for s, e in zip(starts, ends) if codes[s]]


def _t1(r: int) -> str:
    """Time-keeping TAL of record ``r`` and, every tenth record, a 1-s ``T1`` cue half-way through it."""
    return f"+{r}\x14\x14\x00" + (f"+{r}.5\x151\x14T1\x14\x00" if r % 10 == 3 else "")


@pytest.mark.parametrize("annotated", [True, False])
def test_a_stim_label_on_a_voltage_channel_stays_data(tmp_path: Path, annotated: bool) -> None:
    signals = [_eeg(), _eeg("STIM")] + ([annotations(60, _t1)] if annotated else [])
    path = write_edf(tmp_path / "stim_uv.edf", signals, N_RECORDS)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordingWarning)
        rec = load_recording(path)

    assert rec.ch_names == ["C3", "STIM"] and rec.sfreq == SFREQ
    assert [(e.onset, e.description) for e in rec.events] == ([(r * SFREQ + 80, "T1") for r in range(3, 60, 10)]
                                                               if annotated else [])
    assert load_recording(path, ch_names=["C3", "STIM"]).data.shape == (2, N_RECORDS * SFREQ)  # a model on it


@pytest.mark.parametrize("dim", ["", "Boolean", "-"])
def test_a_trig_without_a_voltage_dimension_gives_events(tmp_path: Path, dim: str) -> None:
    codes = _codes(N_RECORDS * SFREQ, 40)
    path = write_edf(tmp_path / "trig.edf", [_eeg(), _trigger(codes, label="TRIG", dim=dim)], N_RECORDS)

    rec = load_recording(path)

    assert rec.ch_names == ["C3"] and rec.events == _expected(codes)


def test_a_trig_faster_than_the_data_stays_data(tmp_path: Path) -> None:
    codes = _codes(N_RECORDS * 2 * SFREQ, 40)
    path = write_edf(tmp_path / "fast.edf", [_eeg(), _trigger(codes, label="TRIG", n=2 * SFREQ)], N_RECORDS)

    rec = load_recording(path)

    assert rec.ch_names == ["C3", "TRIG"] and rec.sfreq == 2 * SFREQ and rec.n_times == N_RECORDS * 2 * SFREQ
    assert rec.events == []


def test_short_records_beside_a_wider_annotation_signal_read_the_files_codes(tmp_path: Path) -> None:
    n_records, n = 10 * N_RECORDS, SFREQ // 10  # 0.1-s records of 16 samples; the TAL has 30
    codes = _codes(n_records * n, n)
    tal = annotations(30, lambda r: f"+{r / 10:g}\x14\x14\x00")
    signals = [_eeg(n=n, n_records=n_records), _trigger(codes, n=n), tal]
    path = write_edf(tmp_path / "short.edf", signals, n_records, record_s=0.1)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordingWarning)
        rec = load_recording(path)

    assert rec.sfreq == SFREQ and rec.events == _expected(codes)
    assert [e.description for e in rec.events] == ["1", "2", "3", "1", "2", "3"]


def test_a_comma_decimal_header_keeps_units_and_codes(tmp_path: Path) -> None:
    codes = _codes(N_RECORDS * SFREQ, 40)
    temp = _eeg("Temp", pmin="-10,5", pmax="50,5", dim="degC")
    trigger = _trigger(codes, pmax=99.5, pmax_text="99,5")
    trigger.dmin = "-32768\x00\x00"  # NUL-padded, as mne reads it
    path = write_edf(tmp_path / "comma.edf", [_eeg(pmin="-3276,8", pmax="3276,7"), temp, trigger], N_RECORDS)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordingWarning)
        rec = load_recording(path)

    assert rec.ch_names == ["C3", "Temp"] and rec.ch_units == [UNIT, "degC"]
    assert rec.events == _expected(codes)


def test_a_header_record_count_below_the_files_is_read_as_mne_reads_it(tmp_path: Path) -> None:
    codes = _codes(N_RECORDS * SFREQ, 40)
    path = write_edf(tmp_path / "count.edf", [_eeg(), _trigger(codes)], N_RECORDS)
    blob = bytearray(path.read_bytes())
    blob[236:244] = b"50      "  # mne warns and counts the file's records
    path.write_bytes(bytes(blob))

    with pytest.warns(RecordingWarning, match="Number of records from the header does not match"):
        rec = load_recording(path)

    assert rec.n_times == N_RECORDS * SFREQ and rec.events == _expected(codes)


def test_a_trigger_channel_this_reader_cannot_follow_warns_and_reads_mnes_values(tmp_path: Path) -> None:
    codes = _codes(N_RECORDS * SFREQ, 40)
    trigger = Signal("Trigger", "", "0", "0", SFREQ, codes, dmin="0", dmax="0")  # no range: mne reads the digits
    path = write_edf(tmp_path / "norange.edf", [_eeg(), trigger], N_RECORDS)

    with pytest.warns(RecordingWarning, match=r"norange\.edf: trigger channel 'Trigger' is read as mne reads it .*"
                                              r"codes may be truncated"):
        rec = load_recording(path)

    assert rec.events == _expected(codes)


def test_a_negative_signal_count_is_refused_by_mne_as_a_data_error(tmp_path: Path) -> None:
    path = write_edf(tmp_path / "ns.edf", [_eeg()], N_RECORDS)
    blob = bytearray(path.read_bytes())
    blob[252:256] = b"-1  "
    path.write_bytes(bytes(blob))

    assert _edf_header(path) is None
    with pytest.raises(DataError, match=r"cannot read .*ns\.edf as a \.edf file"):
        load_recording(path)


def test_dimensions_are_read_when_a_number_does_not_parse(tmp_path: Path) -> None:
    path = write_edf(tmp_path / "odd.edf", [_eeg(), _eeg("Temp", dim="degC", pmin="n/a")], N_RECORDS)

    header = _edf_header(path)

    assert header is not None and header.layout is None
    assert _edf_dimensions(path, ["C3", "Temp"]) == {"C3": "uV", "Temp": "degC"}


def test_a_trigger_channel_passed_over_for_the_annotations_is_said(tmp_path: Path) -> None:
    """A file's annotations are its events when it has any (README); its trigger channel's events are then not read,
    and that is said, with what each holds (before, an EDF+ export with one 'Recording starts' annotation lost every
    cue of its trigger channel without a word; audit s69io F6). A file without annotations reads them, unwarned."""
    codes = _codes(SFREQ * N_RECORDS, 20)
    start = annotations(60, lambda r: f"+{r}\x14\x14\x00" + ("+0\x14\x14Recording starts\x14\x00" if r == 0 else ""))
    path = write_edf(tmp_path / "both.edf", [_eeg(), _trigger(codes), start], N_RECORDS)
    with pytest.warns(RecordingWarning, match="both.edf: its trigger channel Trigger holds 6 event\\(s\\) \\(codes "
                      "1, 2, 3\\) that are not read: .* this one has 1 \\(Recording starts\\)"):
        rec = load_recording(path)
    assert [e.description for e in rec.events] == ["Recording starts"]
    plain = write_edf(tmp_path / "codes.edf", [_eeg(), _trigger(codes)], N_RECORDS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordingWarning)
        assert load_recording(plain).events == _expected(codes)
