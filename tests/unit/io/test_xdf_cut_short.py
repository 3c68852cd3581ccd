"""An XDF file cut short (a copy or download interrupted, a recorder killed mid-write) is read up to its last whole
chunk, wherever the cut falls, with a warning naming the file; one cut within its file header is said to be that
(audit s67rec F2, F3: a cut inside a chunk's 2-byte tag, 6 of 170 cut points of a 47 kB recording, refused the whole
file with pyxdf's "unpack requires a buffer of 2 bytes"; a cut within the header gave an XML parser's message or
"0 candidate streams; pass stream=<name> to choose one"). Files written with the project's own XDF chunk writer, read
by pyxdf."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bci_stream.io import load_recording
from bci_stream.io.errors import DataError, RecordingWarning

SFREQ, N_CHUNKS, PER_CHUNK = 100.0, 4, 50


def _recorded(path: Path) -> Path:
    """A 2-channel stream written in N_CHUNKS sample chunks of PER_CHUNK samples (values: the sample's index)."""
    from bci_stream.io.xdf_chunks import XdfWriter, stream_header_xml

    stamps = 10.0 + np.arange(N_CHUNKS * PER_CHUNK) / SFREQ
    data = np.repeat(np.arange(len(stamps), dtype=np.float64)[:, None], 2, axis=1)
    with path.open("wb") as f:
        w = XdfWriter(f)
        w.add_stream(1, stream_header_xml("amp", "EEG", ["C3", "C4"], SFREQ, "double64", unit="microvolts"),
                     "double64", 2)
        for k in range(N_CHUNKS):
            part = slice(k * PER_CHUNK, (k + 1) * PER_CHUNK)
            w.write_numeric(1, stamps[part], data[part])
        w.write_clock_offset(1, float(stamps[-1]), 0.0)
        w.close_stream(1)
    return path


def _chunk_starts(data: bytes) -> list[int]:
    """Where each chunk begins (after the magic ``XDF:``), read independently of the reader under test."""
    starts, at = [], 4
    while at < len(data):
        starts.append(at)
        n = data[at]
        at += 1 + n + int.from_bytes(data[at + 1:at + 1 + n], "little")
    return starts


@pytest.mark.parametrize("into_tag", [0, 1])
def test_a_file_cut_inside_a_chunks_tag_loads_its_whole_chunks_with_a_warning(tmp_path: Path, into_tag: int) -> None:
    whole = _recorded(tmp_path / "whole.xdf").read_bytes()
    starts = _chunk_starts(whole)  # file header, stream header, 4 sample chunks, clock offset, footer
    fourth = starts[5]  # the last sample chunk: its length field, then (cut here) its tag
    cut_at = fourth + 1 + whole[fourth] + into_tag
    cut = tmp_path / "cut.xdf"
    cut.write_bytes(whole[:cut_at])
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        rec = load_recording(cut)
    np.testing.assert_array_equal(rec.data[0], np.arange(3 * PER_CHUNK))  # the 3 whole sample chunks, in order
    told = [str(w.message) for w in said if issubclass(w.category, RecordingWarning)]
    assert (f"cut.xdf: the file ends within a chunk (cut short: a copy or download interrupted, a recorder killed?): "
            f"its 5 whole chunks are read, up to byte {fourth} of {cut_at}") in told, told


@pytest.mark.parametrize("size", [4, 11, 30])
def test_a_file_cut_within_its_file_header_is_said_to_be(tmp_path: Path, size: int) -> None:
    cut = tmp_path / "head.xdf"
    cut.write_bytes(_recorded(tmp_path / "whole.xdf").read_bytes()[:size])
    with pytest.raises(DataError) as err:
        load_recording(cut)
    assert str(err.value) == (f"{cut} is truncated within its file header (XDF's first chunk): the file holds {size} "
                              "bytes and no whole chunk, no stream (a copy or download cut short, or a recorder "
                              "stopped as it began? read it from its source again)")
    from bci_stream.cli import main

    res = CliRunner().invoke(main, ["replay", str(cut), "--name", "never-streamed"])
    assert res.exit_code == 2 and "is truncated within its file header" in res.output, res.output
    assert "--stream" not in res.output and "candidate" not in res.output


def test_a_file_cut_within_its_stream_header_holds_no_stream(tmp_path: Path) -> None:
    whole = _recorded(tmp_path / "whole.xdf").read_bytes()
    cut = tmp_path / "nostream.xdf"
    cut.write_bytes(whole[:_chunk_starts(whole)[1] + 9])  # the file header whole, the stream header cut
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordingWarning)
        with pytest.raises(DataError, match=r"^nostream.xdf holds no stream \(no stream header chunk\): nothing was "
                                            r"recorded in it$"):
            load_recording(cut)
