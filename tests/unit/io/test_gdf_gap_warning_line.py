"""What a lab sees when a GDF file's missing samples are read as NaN (audit s19 D4): the command prints one line
``warning: FILE: N sample(s) (M value(s) on C channel(s): ...) read as NaN, the first at t=... s, ...`` on stderr,
like its other warnings, not Python's ``/path/bci_stream/io/load.py:91: RecordingWarning: ...`` plus a source
line; the count is of samples (time points), the values (a sample on a channel) said beside it.

Data: real EEG, the first 10 s of EEGMMIDB S001 R06 (``tests/data``) in the BCI Competition IV 2a layout (25
channels, int16, physical range +-2000 uV) written by ``tests/support/gdf.py``, with 100 samples at the digital
minimum on every channel from t = 5 s (a 2a file's missing samples between runs). The command is the real
``python -m bci_stream replay`` (its own process: Python's warning display, not pytest's), on a loopback outlet.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import Recording, load_recording
from bci_stream.io.errors import RecordingWarning
from support.common import REPO, SUBSET_R06, subset_file, unique
from support.gdf import bci2a_like

GAP = (800, 900)  # samples at 160 Hz: t = 5.000 s to 5.625 s


@pytest.fixture(scope="module")
def gdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rec = load_recording(subset_file(SUBSET_R06))
    n = int(10 * rec.sfreq)
    data = rec.data[:, :n].copy()
    data[:, GAP[0]:GAP[1]] = -2000.0  # the physical minimum: written at the digital minimum
    crop = Recording(data=data, sfreq=rec.sfreq, ch_names=rec.ch_names, events=[e for e in rec.events if e.onset < n],
                     source=rec.source)
    return bci2a_like(tmp_path_factory.mktemp("gap") / "A01T_gap.gdf", crop, cue_codes={"T1": 769, "T2": 770},
                      physical=(-2000.0, 2000.0))


def test_the_warning_counts_samples_and_values_and_says_when(gdf: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = load_recording(gdf)
    said = [str(w.message) for w in caught if issubclass(w.category, RecordingWarning)]
    assert len(said) == 1, said
    assert said[0].startswith("A01T_gap.gdf: 100 sample(s) (2500 value(s) on 25 channel(s): EEG-Fz, EEG-0, EEG-1, "
                              "EEG-2, EEG-3, EEG-4 ...) read as NaN, the first at t=5.000 s, as biosig reads them")
    assert "100 sample(s) with every channel at its digital minimum or maximum at once" in said[0]
    assert np.isnan(rec.data[:, GAP[0]:GAP[1]]).all() and rec.data[:, GAP[0]:GAP[1]].size == 2500


def test_the_command_prints_it_as_one_warning_line(gdf: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "bci_stream", "replay", str(gdf), "--name", unique("gapwarn"),
                          "--speed", "32", "--linger", "0"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    mine = [line for line in lines if "A01T_gap.gdf" in line]
    assert len(mine) == 1 and mine[0].startswith("warning: A01T_gap.gdf: 100 sample(s) (2500 value(s) on 25 "
                                                 "channel(s): "), run.stderr
    assert "RecordingWarning" not in run.stderr and "bci_stream/io" not in run.stderr, run.stderr
    assert not [line for line in lines if line.startswith("  ")], run.stderr  # no source line of our code
