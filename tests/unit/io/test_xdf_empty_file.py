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
