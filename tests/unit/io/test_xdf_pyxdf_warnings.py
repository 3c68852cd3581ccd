"""pyxdf's own messages about a file (a truncated recording: ``found likely XDF file corruption (...), scanning
forward to next boundary chunk``) are the reader's warning naming the file, printed by the commands as every other
reader warning: one ``warning: FILE: ...`` line (README). Before, pyxdf's logger printed the bare message (Python's
last-resort handler), without the file's name, beside the commands' ``warning:`` lines.

The file is written by the project's XDF chunk writer as a recording is (chunks of 100 samples, markers, clock
offsets) and cut at 60 % of its bytes, as a crash or a full disk leaves it.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import load_recording
from bci_stream.io.errors import RecordingWarning
from bci_stream.io.xdf_chunks import XdfWriter, stream_header_xml
from support.common import REPO

CORRUPT = "found likely XDF file corruption ("


def truncated(tmp_path: Path) -> Path:
    """A 30 s 100 Hz recording in 100-sample chunks with a cue every 5 s, cut at 60 % of its bytes."""
    stamps = 100.0 + np.arange(3000) / 100.0
    data = np.random.default_rng(0).normal(0, 20, (3000, 2))
    full = tmp_path / "full.xdf"
    with full.open("wb") as f:
        w = XdfWriter(f)
        w.add_stream(1, stream_header_xml("eeg", "EEG", ["C3", "C4"], 100.0, "double64", unit="microvolts"),
                     "double64", 2)
        w.add_stream(2, stream_header_xml("cues", "Markers", ["m"], 0.0, "string"), "string", 1)
        for i in range(0, 3000, 100):
            w.write_numeric(1, stamps[i:i + 100], data[i:i + 100])
            if i % 500 == 0:
                w.write_strings(2, [float(stamps[i]) + 0.1], ["T1"])
            for sid in (1, 2):
                w.write_clock_offset(sid, float(stamps[i]), 0.0)
        for sid in (1, 2):
            w.close_stream(sid)
    cut = tmp_path / "cut.xdf"
    raw = full.read_bytes()
    cut.write_bytes(raw[:int(len(raw) * 0.6)])
    return cut


def test_pyxdf_corruption_message_is_a_recording_warning_naming_the_file(tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    path = truncated(tmp_path)
    with caplog.at_level(logging.WARNING), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = load_recording(path)
    said = [str(w.message) for w in caught if issubclass(w.category, RecordingWarning)]
    assert len(said) == 1 and said[0].startswith(f"cut.xdf: {CORRUPT}"), said
    assert said[0].endswith("scanning forward to next boundary chunk.")
    assert [r.getMessage() for r in caplog.records if r.name.startswith("pyxdf") and r.levelno >= logging.WARNING] \
        == []  # not also printed by pyxdf's logger
    assert 0 < rec.n_times < 3000 and rec.n_times % 100 == 0  # what the file still holds loads
    assert {e.description for e in rec.events} == {"T1"}
    logger = logging.getLogger("pyxdf.pyxdf")  # the logger is left as it was
    assert not logger.filters and logger.isEnabledFor(logging.WARNING)


def test_the_commands_print_it_as_a_warning_line(tmp_path: Path) -> None:
    """As a command prints it (``bci_stream.cli.show_recording_warnings``, installed by every command): one
    ``warning: cut.xdf: found likely XDF file corruption (...)`` line on stderr, and no bare pyxdf line."""
    path = truncated(tmp_path)
    code = ("import sys; from bci_stream.cli import show_recording_warnings; show_recording_warnings(); "
            "from bci_stream.io import load_recording; load_recording(sys.argv[1])")
    done = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"warning: cut.xdf: {CORRUPT}"), lines
