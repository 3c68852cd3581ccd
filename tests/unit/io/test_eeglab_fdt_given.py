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
