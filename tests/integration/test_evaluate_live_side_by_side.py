"""Two `bci-stream evaluate --live` at once on the same file and model: each picks its own free port and a stream
name of its own (``bci-eval-<pid>-<random>``), so each decodes only its own replay (every sample once, equal to
offline) and neither sees the other's streams. No flag is needed to run evaluations side by side.

Data: the first 20 s of ``tests/data/eegmmidb/S001/S001R06.edf`` (as in test_evaluate_live.py), the bundled
``eegmmidb-s001-gru``. Real processes, real LSL on loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.common import REPO, SUBSET_R06, subset_file

pytestmark = [pytest.mark.timeout(240)]


def test_two_live_evaluations_at_once_each_decode_their_own_replay(tmp_path: Path) -> None:
    from bci_stream.io import Recording, load_recording, save_npz

    rec = load_recording(subset_file(SUBSET_R06))
    n = int(20 * rec.sfreq)
    crop = save_npz(Recording(data=rec.data[:, :n], sfreq=rec.sfreq, ch_names=rec.ch_names,
                              events=[e for e in rec.events if e.onset < n], source="r06_20s"), tmp_path / "r06.npz")
    procs = [subprocess.Popen([sys.executable, "-m", "bci_stream.cli", "evaluate", "eegmmidb-s001-gru", "--models-dir",
                               str(REPO / "models"), "--data", str(crop), "--live", "--speed", "8", "--out",
                               str(tmp_path / f"live{i}")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in (0, 1)]
    outputs = [p.communicate(timeout=200)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    urls = [next(line for line in out.splitlines() if line.startswith("service on ")).split()[2] for out in outputs]
    assert urls[0] != urls[1], urls
    runs = [json.loads((tmp_path / f"live{i}" / "evaluation_live.json").read_text()) for i in (0, 1)]
    streams = [r["files"][0]["stream"] for r in runs]
    assert streams[0] != streams[1] and all(s.startswith("bci-eval-") for s in streams), streams
    for r, out in zip(runs, outputs):
        f = r["files"][0]
        assert f["sent"] == f["decoded"] == f["service"]["counters"]["samples_in"] == n, out
        assert f["missing"] == f["duplicates"] == 0 and r["checks"]["passed"], out
        assert f"stream '{f['stream']}'" in out  # the lab sees which stream each evaluation replays on
