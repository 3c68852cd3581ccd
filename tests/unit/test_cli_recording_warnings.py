"""How a command shows a :class:`~bci_stream.io.errors.RecordingWarning` (review s19 R6), in its own process (Python's
warning display and ``-W``, not pytest's):

* each distinct message prints once per command: ``evaluate --live`` reads a file given both as ``--data`` and
  ``--reference-train`` twice, and the readers' ``catch_warnings(record=True)`` resets Python's once-per-location
  rule, so before the hook kept the messages it had printed, the same ``warning: FILE: ...`` line came once per read;
* under ``python -W error`` the warning escapes as an exception: the command ends with one ``error: FILE: ...`` line
  and exit code 2, as on its other input errors, not a Python traceback (before: exit 1 and a traceback).

Data: real EEG, the first 20 s of EEGMMIDB S001 R06 (``tests/data``) written as GDF by ``tests/support/gdf.py`` with
each channel's physical range fitted to its own data (as many exporters write it): each channel's peak sits at its
digital extreme, which the reader keeps as data with one RecordingWarning ("isolated sample(s) ... kept as data").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bci_stream.io import load_recording
from support.common import REPO, SUBSET_R06, subset_file
from support.gdf import write_gdf

pytest.importorskip("mne")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rec = load_recording(subset_file(SUBSET_R06))
    return write_gdf(tmp_path_factory.mktemp("fitted") / "fitted_range.gdf", rec.data[:, :int(20 * rec.sfreq)],
                     rec.sfreq, rec.ch_names, physical="fitted")


def test_a_file_read_twice_in_one_command_prints_its_warning_once(fitted: Path) -> None:
    code = ("from bci_stream.cli import show_recording_warnings\nfrom bci_stream.io import load_recording\n"
            f"show_recording_warnings()\nfor _ in range(3):\n    load_recording({str(fitted)!r})\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    said = [line for line in run.stderr.splitlines() if "fitted_range.gdf" in line]
    assert len(said) == 1, said  # before: 3, one per read
    assert said[0].startswith("warning: fitted_range.gdf: ") and "kept as data" in said[0]


def test_under_w_error_the_warning_ends_the_command_with_an_error_line_and_exit_2(fitted: Path,
                                                                                  tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-W", "error", "-m", "bci_stream", "calibrate", str(fitted),
                          "--labels", "T1=left,T2=right", "--name", "werr", "--out", str(tmp_path / "model")],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr  # before: 1
    assert "Traceback" not in run.stderr
    said = [line for line in run.stderr.splitlines() if "fitted_range.gdf" in line]
    assert len(said) == 1 and said[0].startswith("error: fitted_range.gdf: ") and "kept as data" in said[0], said
    assert not (tmp_path / "model").exists()


def test_a_warning_met_under_a_progress_bar_clears_the_bar_and_gets_a_line_of_its_own(fitted: Path) -> None:
    """calibrate loads its files under a tqdm bar: the warning line was written after the bar on its line
    (``loading:   0%| ... ?file/s]warning: FILE: ...``; found by an exploratory run). Now the bar is cleared first
    (tqdm's external_write_mode: ``\\r`` and blanks) and drawn again below the line."""
    code = ("from tqdm import tqdm\nfrom bci_stream.cli import show_recording_warnings\n"
            "from bci_stream.io import load_recording\nshow_recording_warnings()\n"
            f"for p in tqdm([{str(fitted)!r}], desc='loading', mininterval=0):\n    load_recording(p)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, timeout=120)  # bytes: \r kept
    stderr = run.stderr.decode()
    assert run.returncode == 0, stderr
    at = stderr.index("warning: fitted_range.gdf: ")
    before = stderr[:at]
    assert "loading" in before  # the bar was drawn before the warning
    assert before.endswith("\r") and before.rstrip("\r").rstrip(" ").endswith("\r"), repr(before[-80:])
