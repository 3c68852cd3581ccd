"""An EDF/BDF file cut within its header, or before its first whole record, is refused naming the cause (audit s51).

Before: mne's error alone, which names no cause: ``Bad EDF file provided.`` (under 256 bytes), ``could not convert
string to float: ''`` (within the signal headers), an empty ``AssertionError:`` (a few bytes short of the header)
or ``No data in this range`` (the header whole, no whole record), e.g. ``error: cannot load S01R1.edf: cannot read
S01R1.edf as a .edf file: AssertionError:``. A file cut later loads its whole records with a warning
(:func:`~bci_stream.io.truncated.edf_truncation_note`); now a file cut before one whole record says so too: the
header's length by its own fields, the record size and the file's size.

Real EEG: the repository's S001 R05 subset (21 channels and the annotations, 160 Hz), and the same samples as BDF.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import load_recording
from bci_stream.io.errors import DataError
from support.bdf import write_bdf
from support.common import SUBSET_S001_21CH, subset_file

pytest.importorskip("mne")

R05 = SUBSET_S001_21CH / "S001R05.edf"


def _cut(src: Path, folder: Path, n_bytes: int) -> Path:
    out = folder / f"cut{n_bytes}{src.suffix}"
    out.write_bytes(src.read_bytes()[:n_bytes])
    return out


def _refusal(path: Path) -> str:
    with pytest.raises(DataError) as caught:
        load_recording(path)
    return str(caught.value)


def test_an_edf_file_cut_within_or_just_after_its_header_says_so(tmp_path: Path) -> None:
    src = subset_file(R05)
    ns = int(src.read_bytes()[252:256])
    header = 256 * (ns + 1)
    said = _refusal(_cut(src, tmp_path, 100))
    assert "cut100.edf is truncated within its header: it holds 100 bytes, fewer than the 256 bytes" in said
    for n in (256, header - 256):  # mne: "could not convert string to float: ''", an empty AssertionError
        said = _refusal(_cut(src, tmp_path, n))
        assert (f"truncated within its header: the header says {ns} signals, so {header} bytes of header (256 + 256 "
                f"per signal) before the first sample, the file holds {n} bytes") in said, said
    said = _refusal(_cut(src, tmp_path, header + 10))  # mne: "No data in this range"
    assert f"is truncated: it holds its {header}-byte header and 10 bytes of data, not one whole record" in said
    assert "read it from its source again" in said


def test_a_bdf_file_cut_within_its_header_says_so(tmp_path: Path) -> None:
    rec = load_recording(subset_file(R05))
    sfreq = int(rec.sfreq)
    full = write_bdf(tmp_path / "run.bdf", rec.data[:, :4 * sfreq], sfreq, rec.ch_names, np.zeros(4 * sfreq))
    assert load_recording(full).n_times == 4 * sfreq
    said = _refusal(_cut(full, tmp_path, 1000))
    n_signals = rec.n_chans + 1  # and Status
    assert f"the header says {n_signals} signals, so {256 * (n_signals + 1)} bytes of header" in said, said
