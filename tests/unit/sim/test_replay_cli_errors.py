"""``bci-stream replay --channel-names`` mistakes are usage errors, as in calibrate: exit code 2, naming the option
(before the fix a wrong count named the internal ``rename_channels`` and exited 1). Real subprocess runs on a real
EEGMMIDB file (21 channels); nothing is streamed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.common import SUBSET_S001_21CH, subset_file, unique

EDF = SUBSET_S001_21CH / "S001R05.edf"


def _replay(*args: str) -> subprocess.CompletedProcess:
    cli = str(Path(sys.executable).with_name("bci-stream"))
    return subprocess.run([cli, "replay", str(subset_file(EDF)), "--name", unique("replay-err"), *args],
                          capture_output=True, text=True, timeout=120)


def test_wrong_number_of_names_exits_2_naming_the_option() -> None:
    proc = _replay("--channel-names", "C3,C4")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Error: --channel-names must give one name per channel of" in proc.stderr
    assert "(21 channels, in the file's order); got 2 name(s): C3, C4" in proc.stderr
    assert "rename_channels" not in proc.stderr and "Traceback" not in proc.stderr
    assert "replaying" not in proc.stdout  # refused before any stream was made


def test_missing_names_file_exits_2(tmp_path: Path) -> None:
    proc = _replay("--channel-names", str(tmp_path / "cap.locs"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--channel-names must be a comma list of names or an existing file" in proc.stderr


def test_a_file_replay_cannot_read_exits_2_as_calibrate(tmp_path: Path) -> None:
    """A BrainVision data file given instead of its header (found by an exploratory run: exit 1 here, 2 in calibrate
    and evaluate for the same refusal)."""
    (tmp_path / "run.eeg").write_bytes(b"\x00" * 64)
    cli = str(Path(sys.executable).with_name("bci-stream"))
    proc = subprocess.run([cli, "replay", str(tmp_path / "run.eeg"), "--name", unique("replay-err")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "a BrainVision recording is read from its header: give run.vhdr" in proc.stderr
