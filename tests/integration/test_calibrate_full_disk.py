"""``bci-stream calibrate --out`` on a disk with no room for the model (a real tmpfs of its own, ``support.small_disk``)
on the repository's S001 subset: one ``error:`` line naming the model folder and the cause, exit 2, nothing left in
``--out`` (found by a storage audit: before, a 25-line traceback after the whole calibration)."""

from __future__ import annotations

import subprocess
import sys

from support.common import REPO, SUBSET_S001_21CH
from support.marked import FAST_CHANNELS
from support.small_disk import small_disk


def test_calibrate_onto_a_full_disk_says_so_in_one_line_and_leaves_nothing(tmp_path):
    with small_disk(tmp_path / "small", "200k") as disk:
        res = subprocess.run([sys.executable, "-m", "bci_stream.cli", "calibrate",
                              *(str(SUBSET_S001_21CH / f"S001R{r}.edf") for r in ("05", "09")),
                              "--labels", "T1=fists,T2=feet", "--name", "s01", "--out", str(disk), "--no-average",
                              # 8 channels: fewer candidates to fit (the model folder still overflows 200 kB)
                              "--channels", ",".join(FAST_CHANNELS), "--no-recurrent", "--no-progress"],
                             cwd=REPO, capture_output=True, text=True, timeout=300)
        assert res.returncode == 2, res.stdout + res.stderr
        assert "Traceback" not in res.stderr
        error = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
        assert len(error) == 1 and error[0].startswith(f"error: model folder {disk / 's01'} cannot be written: "
                                                       "[Errno 28] No space left on device")
        assert list(disk.iterdir()) == []
