"""Files cut short (a copy or download interrupted) through ``load_recording`` (audit s22, finding 1).

Before: a GDF file cut in half gave mne's internal error (``cannot reshape array of size ... into shape
(100,newaxis)``), a FIF file cut in half ``ValueError: buffer size must be a multiple of element size`` with nothing
saying the file may be truncated, and a BrainVision ``.eeg`` cut mid-sample loaded with nothing said. Now a GDF
file's whole records load with a warning naming the header's values and the file size (as mne reads a truncated
EDF), a GDF file without one whole record is refused with them, a FIF read error says the file may be truncated or
corrupt, and the BrainVision partial sample is dropped with a warning.

Real EEG: the repository's S001 R05 subset (21 channels, 160 Hz), written as GDF by ``support.gdf``, as FIF by
``save_fif``, as BrainVision by ``support.brainvision``, then cut.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import Recording, load_recording
from bci_stream.io.errors import DataError
from bci_stream.io.fif_writer import save_fif
from bci_stream.io.gdf import read_gdf_header
from support.bci2000 import write_bci2000
from support.brainvision import subset_brainvision
from support.common import SUBSET_S001_21CH, subset_file
from support.gdf import CUE_LEFT, GdfEvent, write_gdf
from support.loading import load_warned

pytest.importorskip("mne")

SECONDS = 40


@pytest.fixture(scope="module")
def r05() -> Recording:
    return load_recording(subset_file(SUBSET_S001_21CH / "S001R05.edf"))


def _cut(path: Path, n_bytes: int) -> Path:
    out = path.with_name(f"cut_{path.name}")
    out.write_bytes(path.read_bytes()[:n_bytes])
    return out


@pytest.mark.parametrize("version", ["2.20", "1.25"])
def test_a_truncated_gdf_file_loads_its_whole_records_with_a_warning(tmp_path: Path, r05: Recording,
                                                                     version: str) -> None:
    n = int(SECONDS * r05.sfreq)
    events = [GdfEvent(int(r05.sfreq * 3), CUE_LEFT)]
    full = write_gdf(tmp_path / "run.gdf", r05.data[:, :n], r05.sfreq, r05.ch_names, events=events, version=version)
    whole = load_recording(full)
    header = read_gdf_header(full).data_at
    record = 21 * 2 * int(r05.sfreq)  # 1-s records of 21 int16 channels
    cut = _cut(full, header + 17 * record + record // 2)  # 17 whole records and half of the 18th
    rec, said = load_warned(cut)
    assert rec.data.shape == (21, 17 * int(r05.sfreq))
    np.testing.assert_array_equal(rec.data, whole.data[:, :rec.n_times])
    assert rec.events == []  # the event table, after the data, is lost
    note = [s for s in said if "file truncated" in s]
    assert len(note) == 1, said
    assert note[0].startswith(f"cut_run.gdf: file truncated: header says {SECONDS} records of {record} bytes from "
                              f"byte {header} ")
    assert f"the file holds {cut.stat().st_size} bytes: read the 17 whole record(s) (17 s)" in note[0]


def test_a_gdf_file_without_one_whole_record_is_refused_naming_the_header_values(tmp_path: Path,
                                                                                r05: Recording) -> None:
    full = write_gdf(tmp_path / "run.gdf", r05.data[:, :int(10 * r05.sfreq)], r05.sfreq, r05.ch_names)
    record = 21 * 2 * int(r05.sfreq)
    header = read_gdf_header(full).data_at
    cut = _cut(full, header + record - 1)
    with pytest.raises(DataError) as err:
        load_recording(cut)
    assert str(err.value) == (f"cannot read {cut} as a .gdf file: file truncated: header says 10 records of {record} "
                              f"bytes from byte {header} (data to byte {header + 10 * record}, then the event "
                              f"table), the file holds {header + record - 1} bytes: not one whole record")



@pytest.mark.parametrize("version", ["2.20", "1.25"])
@pytest.mark.parametrize("keep", [0, 100, 300, -1])
def test_a_gdf_file_cut_within_its_header_is_said_to_be(tmp_path: Path, r05: Recording, version: str,
                                                        keep: int) -> None:
    """A GDF file cut within its header (``keep`` bytes; -1: one byte short of it) is refused saying so, with the
    header's length and the file's size (audit s67rec F7: mne's bare ``IndexError`` or "Bad GDF file provided")."""
    full = write_gdf(tmp_path / "run.gdf", r05.data[:, :int(2 * r05.sfreq)], r05.sfreq, r05.ch_names, version=version)
    header = read_gdf_header(full).data_at
    cut = _cut(full, header - 1 if keep < 0 else keep)
    with pytest.raises(DataError) as err:
        load_recording(cut)
    size = cut.stat().st_size
    why = (f"it holds {size} bytes, fewer than the 256 bytes of a GDF header's fixed part" if size < 256 else
           f"the header says 21 signals, so {header} bytes of header before the first sample, the file holds {size} "
           "bytes")
    assert str(err.value).startswith(f"cannot read {cut} as a .gdf file: "), err.value
    assert str(err.value).endswith(f"; cut_run.gdf is truncated within its header: {why} (a copy or download cut "
                                   "short? read it from its source again)"), err.value

@pytest.mark.parametrize("version", ["2.20", "1.25"])
def test_a_gdf_file_cut_within_its_event_table_loads_its_data_without_events(tmp_path: Path, r05: Recording,
                                                                             version: str) -> None:
    events = [GdfEvent(100, CUE_LEFT, 640), GdfEvent(900, CUE_LEFT, 640)]
    full = write_gdf(tmp_path / "run.gdf", r05.data[:, :1600], r05.sfreq, r05.ch_names, events=events,
                     version=version)
    whole = load_recording(full)
    assert [e.onset for e in whole.events] == [100, 900]
    table_at = full.stat().st_size - 8 - 2 * 12  # mode-3 table: 8-byte head, 12 bytes per event
    cut = _cut(full, full.stat().st_size - 9)  # the durations cut (mne read them as 1 sample, or failed)
    rec, said = load_warned(cut)
    np.testing.assert_array_equal(rec.data, whole.data)
    assert rec.events == []
    assert [s for s in said if "truncated" in s] == [
        f"cut_run.gdf: event table truncated: it says it holds 32 bytes from byte {table_at}, the file holds "
        f"{table_at + 23} bytes: the data is read whole (10 s), the events are lost (they come from the file's "
        "trigger channel, if any)"]


def test_a_truncated_fif_file_is_refused_saying_it_may_be_truncated(tmp_path: Path, r05: Recording) -> None:
    full = save_fif(r05, tmp_path / "run_raw.fif")
    cut = _cut(full, full.stat().st_size // 2)
    with pytest.raises(DataError) as err:
        load_recording(cut)
    text = str(err.value)
    assert text.startswith(f"cannot read {cut} as a .fif file: ")
    assert (f"; cut_run_raw.fif may be truncated or corrupt (e.g. a copy or download cut short; it holds "
            f"{cut.stat().st_size} bytes)") in text


def test_a_brainvision_data_file_cut_mid_sample_warns_that_the_partial_sample_was_dropped(tmp_path: Path) -> None:
    vhdr = subset_brainvision(tmp_path / "run", n_times=1600)
    full, said = load_warned(vhdr)
    assert not [s for s in said if "truncated" in s]
    eeg = tmp_path / "run.eeg"
    eeg.write_bytes(eeg.read_bytes()[:1000 * 42 + 5])  # 1000 samples of 21 int16 channels, and 5 bytes
    rec, said = load_warned(vhdr)
    assert rec.n_times == 1000
    np.testing.assert_array_equal(rec.data, full.data[:, :1000])
    assert [s for s in said if "truncated" in s] == [
        "run.vhdr: data file run.eeg is truncated: it holds 42005 bytes, not a whole number of samples of 21 "
        "channels x 2 bytes (INT_16: 42 bytes per sample); the last partial sample (5 bytes) was dropped, 1000 "
        "samples read"]


@pytest.mark.parametrize("size", [0, 41])
def test_a_brainvision_data_file_without_one_whole_sample_is_refused_naming_it(tmp_path: Path, size: int) -> None:
    """Audit s68cal F5: an empty (or 41-byte) .eeg gave mne's "ValueError: No data in this range", naming neither
    the data file nor its size."""
    vhdr = subset_brainvision(tmp_path / "run", n_times=1600)
    eeg = tmp_path / "run.eeg"
    eeg.write_bytes(eeg.read_bytes()[:size])
    with pytest.raises(DataError) as exc:
        load_recording(vhdr)
    assert str(exc.value) == (
        f"cannot read {vhdr} as a .vhdr file: run.vhdr: data file run.eeg holds {size} bytes, less than one sample of "
        "21 channels x 2 bytes (INT_16: 42 bytes per sample): no data to read (a copy or download cut short, or the "
        "data file replaced): read it from its source again")


def test_a_truncated_edf_file_names_the_headers_values_and_what_was_read(tmp_path: Path, r05: Recording) -> None:
    """mne reads its whole records and says only "Number of records from the header does not match the file size
    ...": the warning now gives the header's record count, record size and data offset, the file's size and the
    records read, as the README says and as a truncated GDF file's warning does (exploratory run, s27)."""
    src = subset_file(SUBSET_S001_21CH / "S001R05.edf")
    size = src.stat().st_size * 6 // 10
    rec, notes = load_warned(_cut(src, size))
    seconds = rec.n_times / rec.sfreq
    assert seconds == int(seconds) and 0 < seconds < r05.n_times / r05.sfreq
    head = src.read_bytes()[:256].decode("latin-1")
    data_at, n_records = int(head[184:192]), int(head[236:244])
    record = (src.stat().st_size - data_at) // n_records  # the whole file holds every record
    assert notes[0] == (f"cut_S001R05.edf: file truncated: header says {n_records} records of {record} bytes from "
                        f"byte {data_at}, the file holds {size} bytes: read the {int(seconds)} whole record(s) "
                        f"({seconds:g} s)"), notes
    assert not any("Number of records" in n for n in notes), notes
    assert np.array_equal(rec.data, r05.data[:, :rec.n_times])


def test_a_bci2000_file_cut_mid_sample_loads_its_whole_samples_and_one_without_any_is_refused(
        tmp_path: Path, r05: Recording) -> None:
    """Audit s43, F1: a ``.dat`` cut short was refused outright (``data size ... is not a whole number of 139-byte
    samples``), while EDF, GDF and BrainVision files cut the same way load; one cut within its header said ``data size
    -7110 bytes``. Now its whole samples load with a warning, as a BrainVision file's do, and a file without one whole
    sample is refused naming its header length, the sample size and the file's size."""
    raw = np.clip(np.round(r05.data[:, :1600] / 0.1), -32768, 32767).astype(np.int16)
    codes = (np.arange(1600) // 400 % 3).astype(np.uint8)
    path = write_bci2000(tmp_path / "run.dat", raw, r05.sfreq, r05.ch_names, {"StimulusCode": codes})
    full, said = load_warned(path)
    assert not said and full.n_times == 1600
    block = len(r05.ch_names) * 2 + 1
    whole = path.read_bytes()
    header_len = len(whole) - 1600 * block
    path.write_bytes(whole[:header_len + 1000 * block + 7])
    rec, said = load_warned(path)
    assert rec.n_times == 1000
    np.testing.assert_array_equal(rec.data, full.data[:, :1000])
    assert said == [f"run.dat is truncated: its data ({1000 * block + 7} bytes after the {header_len}-byte header) is "
                    f"not a whole number of {block}-byte samples (SourceCh=21, DataFormat=int16, StatevectorLen=1); "
                    "the last partial sample (7 bytes) was dropped, 1000 samples read"]
    path.write_bytes(whole[:header_len + block - 1])
    with pytest.raises(DataError) as err:
        load_recording(path)
    assert str(err.value).endswith(f"run.dat is truncated: its header says HeaderLen={header_len} bytes and one sample "
                                   f"takes {block} bytes (SourceCh=21, DataFormat=int16, StatevectorLen=1), the file "
                                   f"holds {header_len + block - 1} bytes: not one whole sample"), err.value


@pytest.mark.parametrize("version", ["2.20", "1.25"])
def test_a_gdf_file_whose_header_does_not_count_its_records_is_read_by_its_size(tmp_path: Path, r05: Recording,
                                                                               version: str) -> None:
    """A record count of -1 (GDF's "unknown": a recorder that did not close the file) gave mne's 'OSError: [Errno
    22] Invalid argument' (audit s69io F10); its whole records are read, a part record at the end left, and said."""
    n = int(SECONDS * r05.sfreq)
    full = write_gdf(tmp_path / "run.gdf", r05.data[:, :n], r05.sfreq, r05.ch_names, version=version)
    whole = load_recording(full)
    header = read_gdf_header(full).data_at
    record = 21 * 2 * int(r05.sfreq)
    raw = bytearray(full.read_bytes()[:header + 12 * record + record // 3])  # 12 records, a third of the 13th
    raw[236:244] = (-1).to_bytes(8, "little", signed=True)
    open_file = tmp_path / "open.gdf"
    open_file.write_bytes(bytes(raw))
    rec, said = load_warned(open_file)
    np.testing.assert_array_equal(rec.data, whole.data[:, :12 * int(r05.sfreq)])
    assert [s for s in said if "record count is -1" in s] == [
        f"open.gdf: its header's record count is -1 (unknown: a recorder that did not close the file); the file holds "
        f"{len(raw)} bytes: 12 whole record(s) of {record} bytes from byte {header}: read those (12 s); a part record "
        "at the end, and an event table if the recorder wrote one, are not read (events come from the file's trigger "
        "channel, if any)"]
