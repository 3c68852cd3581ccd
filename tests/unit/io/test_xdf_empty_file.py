"""An empty file (0 bytes: a recorder that could not write it, found by a storage audit) or a file that is no XDF at
all is said as such, naming it, by ``read_session`` and ``load_recording`` (before: pyxdf's "Invalid XDF file" for
both)."""

from __future__ import annotations

import pytest

from bci_stream.io import load_recording
from bci_stream.io.errors import DataError
from bci_stream.io.session import read_session


@pytest.mark.parametrize("read", [read_session, load_recording])
def test_an_empty_or_foreign_file_is_named_and_said_what_it_is(tmp_path, read):
    empty, text = tmp_path / "a.2.xdf", tmp_path / "notes.xdf"
    empty.touch()
    text.write_text("subject 1, run 2\n")
    with pytest.raises(DataError, match=f"{empty} is empty \\(0 bytes\\): nothing was written to it"):
        read(empty)
    with pytest.raises(DataError, match=f"{text} is not an XDF file: it begins with b'subj', not b'XDF:'"):
        read(text)


def test_a_file_that_cannot_be_looked_for_is_said_so(tmp_path):
    """A data file under a folder the user may not search (EACCES; root searches all, so here a name too long, which
    raises alike) is a DataError naming it (found by an audit of non-root deployments: a traceback of calibrate and
    evaluate)."""
    path = tmp_path / ("y" * 300) / "run1.edf"
    with pytest.raises(DataError, match=f"{path} cannot be looked for \\(File name too long\\): give a file"):
        load_recording(path)


def _small_xdf(path):
    import numpy as np

    from support.xdf import write_xdf

    x = np.random.default_rng(7).normal(0, 20, (300, 2))
    return write_xdf(path, 10.0 + np.arange(len(x)) / 100.0, [("amp", "EEG", ["C3", "C4"], 100.0, x, "uV")],
                     [("cues", [11.0], ["T1"])])


@pytest.mark.parametrize("name", ["run.xdfz", "run.xdf.gz"])
def test_a_compressed_xdf_is_read_as_pyxdf_reads_it(tmp_path, name):
    """``.xdfz`` / ``.xdf.gz`` (gzip, as pyxdf reads them): read as the file unpacked; before, every one was refused
    as 'not an XDF file: it begins with b'\\x1f\\x8b...' (audit s69io F4). One so named that is no gzip is said so."""
    import gzip

    import numpy as np

    plain = _small_xdf(tmp_path / "plain.xdf")
    packed = tmp_path / name
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = load_recording(plain), load_recording(packed)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.events == b.events and len(b.events) == 1
    fake = tmp_path / f"fake-{name}"
    fake.write_bytes(plain.read_bytes())
    with pytest.raises(DataError, match=f"{fake} is not a gzip-compressed XDF file \\(as its name says it is\\)"):
        load_recording(fake)
