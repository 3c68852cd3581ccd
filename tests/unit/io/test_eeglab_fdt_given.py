"""An EEGLAB ``.fdt`` given instead of its ``.set`` is refused naming the ``.set`` (audit s51), as a BrainVision
``.eeg`` or ``.vmrk`` given instead of its ``.vhdr`` names the ``.vhdr``.

Before: ``bci-stream calibrate eeglab_data.fdt ...`` said only ``path must end in one of .bdf, .dat, ...; got
'eeglab_data.fdt'``, while ``.set`` is in that list: a new user with the two files of a dataset did not learn which
one to give. Real files: EEGLAB's tutorial dataset (the full data set).
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bci_stream.cli import main
from support.common import SHARED_DATA, require_full_data

FDT = SHARED_DATA / "eeglab" / "eeglab_data.fdt"


def test_calibrate_given_the_fdt_names_the_set(tmp_path: Path) -> None:
    fdt = require_full_data(FDT, FDT.with_suffix(".set"))
    res = CliRunner().invoke(main, ["calibrate", "--no-progress", str(fdt), "--labels", "square=a,rt=b", "--name",
                                    "ee", "--out", str(tmp_path)], catch_exceptions=False)
    assert res.exit_code == 2, res.output
    assert ("got 'eeglab_data.fdt' (an EEGLAB dataset is read from its .set file, which names its .fdt: give "
            "eeglab_data.set)") in res.output
    assert "Traceback" not in res.output


def test_a_set_or_fdt_cut_short_is_said_so(tmp_path: Path) -> None:
    """mne said 'Incorrect number of samples (A != B), please report this error to MNE-Python developers' of an .fdt
    cut short, and 'could not read bytes' of a .set cut short (audit s69io F10): each refusal now says which file is
    short and what to do. The real EEGLAB tutorial dataset, copied and cut."""
    import pytest

    from bci_stream.io import load_recording
    from bci_stream.io.errors import DataError

    set_file = require_full_data(SHARED_DATA / "eeglab" / "eeglab_data.set", FDT)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / set_file.name).write_bytes(set_file.read_bytes())
    (tmp_path / "a" / FDT.name).write_bytes(FDT.read_bytes()[:1_000_000])
    with pytest.raises(DataError, match="the data file \\(.fdt\\) holds 250000 values where the .set says [0-9]+ "
                       "\\(channels x samples\\): it is cut short"):
        load_recording(tmp_path / "a" / set_file.name)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / set_file.name).write_bytes(set_file.read_bytes()[:200_000])
    (tmp_path / "b" / FDT.name).write_bytes(FDT.read_bytes())
    with pytest.raises(DataError, match="the .set file ends early: it is cut short"):
        load_recording(tmp_path / "b" / set_file.name)
