"""The session recorder on a disk that fills up, frees up, loses the file, or cannot take it at all: the file always
ends on a whole chunk, what did not reach it is counted (``unrecorded_samples``) and said in it (an ``unrecorded``
event once writing resumes), writing resumes once it can, and closing never raises. A real tmpfs of its own
(``support.small_disk``: ENOSPC as a full disk gives it), real files read back by ``read_session``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io.session import read_session
from support.common import REPO
from support.small_disk import on_small_disk

pytestmark = pytest.mark.timeout(120)

#: A recorder (8 channels, 2 outputs, 500 Hz) on the small disk ``argv[1]``; chunks of 50 samples whose values are
#: their chunk's number; the scenario ``argv[3]`` between; the file copied to ``argv[2]``; its states printed.
DRIVER = textwrap.dedent("""
    import json, os, shutil, sys, time
    from pathlib import Path
    import numpy as np
    from bci_stream.service.recorder import Recorder
    from support.small_disk import fill

    disk, out, scenario = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    IN = {"name": "eeg", "type": "EEG", "ch_names": [f"c{i}" for i in range(8)], "sfreq": 500.0,
          "channel_format": "float32", "source_id": "amp"}
    OUT = {"name": "eeg-decoded", "labels": ["a", "b"], "sfreq": 500.0, "source_id": "amp/decoded",
           "model": {"name": "m", "version": "1", "sha256": "ab" * 32}}
    path, k, states = disk / "r.xdf", 0, {}

    def push(rec, n):
        global k
        for _ in range(n):
            ts = 1000.0 + (k * 50 + np.arange(50)) / 500.0
            rec.inputs(np.full((50, 8), k, np.float32), ts)
            rec.outputs(np.zeros((50, 2), np.float32), ts + 0.001, k * 50 + np.arange(50), 1)
            k += 1
            time.sleep(0.005)
        time.sleep(0.3)  # > flush_interval: written (or not)
        deadline = time.monotonic() + 20  # a loaded machine: the writer thread may not have drained the queue yet
        while rec._queue and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # its last batch written (or not)

    if scenario == "create":  # no room for the file itself
        filler = fill(disk)
        try:
            Recorder(path, IN, OUT, flush_interval=0.05)
        except OSError as exc:
            states["refused"] = [str(exc), path.exists()]
        rec = Recorder(path, IN, OUT, flush_interval=0.05, retry=True)
        states["full"] = rec.state()
        push(rec, 20)
        filler.unlink()
        time.sleep(2.5)  # RETRY_S
        push(rec, 20)
    else:
        rec = Recorder(path, IN, OUT, flush_interval=0.05)
        rec.clock_offset(1000.0, 0.25)
        if scenario == "removed":  # a marker that goes with the removed file
            rec.marker_stream({"name": "cues", "type": "Markers", "source_id": "cues-src", "hostname": "h"}, 1000.0)
            rec.marker(1000.5, "left")
        push(rec, 20)
        if scenario == "removed":
            path.unlink()
            push(rec, 20)
        elif scenario == "markers in the hole":  # the markers stream declared while the disk is full
            filler = fill(disk)
            rec.marker_stream({"name": "cues", "type": "Markers", "source_id": "cues-src", "hostname": "h"}, 1000.0)
            rec.marker(1002.5, "left")
            push(rec, 20)
            filler.unlink()
            rec.marker(1004.5, "right")
            push(rec, 20)
        else:
            filler = fill(disk)
            push(rec, 20)
            states["full"] = rec.state()
            if scenario == "recovers":
                filler.unlink()
                push(rec, 20)
            else:  # "stays full": the close too
                push(rec, 5)
    rec.close()
    states["end"], states["pushed"] = rec.state(), k * 50
    if path.exists():
        shutil.copy(path, out)
    print(json.dumps(states))
""")


def run(tmp_path: Path, scenario: str) -> tuple[dict, Path]:
    disk, out = tmp_path / "disk", tmp_path / "r.xdf"
    argv = on_small_disk(disk, "256k", [sys.executable, "-c", DRIVER, str(disk), str(out), scenario])
    res = subprocess.run(argv, cwd=REPO, env={"PYTHONPATH": f"{REPO}:{REPO / 'tests'}", "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=100)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1]), out


def chunks_in(path: Path) -> tuple[np.ndarray, list[dict]]:
    """The chunk numbers of the file's input samples (each whole), its ``unrecorded`` events."""
    s = read_session(path)
    x = s.inputs.data.T
    assert (x == x[:, :1]).all() and x.shape[0] % 50 == 0  # whole chunks, nothing torn
    k = x[::50, 0].round().astype(int)
    assert (np.repeat(k, 50) == x[:, 0].round()).all()
    np.testing.assert_array_equal(s.input_timestamps, 1000.0 + (np.repeat(k, 50) * 50 + np.tile(np.arange(50),
                                                                                               len(k))) / 500.0)
    assert len(s.outputs) == x.shape[0]  # the outputs of the same chunks
    return k, [e for _, e in s.events if e["event"] == "unrecorded"]


def test_a_disk_that_fills_up_and_frees_up_leaves_a_hole_counted_and_said_and_the_rest_written(tmp_path):
    """Before: the batches that met the full disk were cleared without a count, the status said ENOSPC for ever
    after, and nothing in the file said what was missing."""
    states, out = run(tmp_path, "recovers")
    full, end = states["full"], states["end"]
    path = tmp_path / "disk" / "r.xdf"
    assert full["error"].startswith(f"recorder cannot write {path}: [Errno 28] No space left on device")
    assert end["error"] is None and end["last_error"] == full["error"]
    k, holes = chunks_in(out)
    assert end["unrecorded_samples"] > 0 and len(k) * 50 + end["unrecorded_samples"] == states["pushed"] == 3000
    assert k[0] == 0 and k[-1] == 59 and np.all(np.diff(k) > 0)  # in order; the hole is the chunks not there
    missing = sorted(set(range(60)) - set(k))
    assert len(holes) == 1 and holes[0]["samples"] == len(missing) * 50 == end["unrecorded_samples"]
    assert holes[0]["outputs"] == holes[0]["samples"] and holes[0]["error"] == full["error"]
    assert (holes[0]["first_timestamp"], holes[0]["last_timestamp"]) == (1000.0 + missing[0] * 50 / 500.0,
                                                                           1000.0 + (missing[-1] * 50 + 49) / 500.0)
    assert read_session(out).clock_offsets == [(1000.0 - 0.25, 0.25)]


def test_closing_on_a_full_disk_never_raises_and_says_what_it_could_not_finish(tmp_path):
    """Before: the close raised ENOSPC (a worker's clean stop exited as crashed, ``bci-stream record`` ended in a
    traceback with no summary)."""
    states, out = run(tmp_path, "stays full")
    end = states["end"]
    assert end["error"].startswith(f"recorder cannot write {tmp_path / 'disk' / 'r.xdf'}: [Errno 28] No space left")
    k, holes = chunks_in(out)  # readable: every chunk in it whole
    assert k[0] == 0 and len(k) * 50 + end["unrecorded_samples"] == states["pushed"] and holes == []


def test_a_file_removed_while_written_is_created_again_and_the_loss_said(tmp_path):
    """Before: the writes went on into the removed file (lost at its close) and the recording reported success."""
    states, out = run(tmp_path, "removed")
    end = states["end"]
    assert end["error"] is None and end["last_error"] == (
        f"{tmp_path / 'disk' / 'r.xdf'} was removed while it was written (its folder deleted?): the recording goes on "
        "in a new file at that path")
    k, holes = chunks_in(out)
    assert k.tolist() == list(range(20, 40)) and end["unrecorded_samples"] == 1000
    assert len(holes) == 1 and holes[0]["samples"] == holes[0]["outputs"] == 1000
    # the marker, and the span of the samples, that went with it (before: 0 markers, no span: audit s67rec F6)
    assert holes[0]["markers"] == end["unrecorded_markers"] == 1, (holes, end)
    assert (holes[0]["first_timestamp"], holes[0]["last_timestamp"]) == (1000.0, 1000.0 + 999 / 500.0), holes
    assert read_session(out).clock_offsets == [(1000.0 - 0.25, 0.25)]  # the new file maps its samples as before


def test_a_file_that_cannot_be_created_is_refused_or_with_retry_created_once_it_can(tmp_path):
    """A first start is refused (nothing left at the path); a restarted worker's recorder (``retry``) counts what
    comes until the file can be created. Before: a restart on a full disk ended its decoder in a final error."""
    states, out = run(tmp_path, "create")
    path = tmp_path / "disk" / "r.xdf"
    assert states["refused"] == ["[Errno 28] No space left on device", False]
    assert states["full"]["error"] == f"recorder cannot create {path}: [Errno 28] No space left on device"
    end = states["end"]
    assert end["error"] is None and end["unrecorded_samples"] == 1000
    k, holes = chunks_in(out)
    assert k.tolist() == list(range(20, 40)) and len(holes) == 1 and holes[0]["samples"] == 1000


def test_a_stream_declared_while_the_disk_is_full_is_declared_once_it_is_not(tmp_path):
    """The markers stream's header went out with a batch the full disk refused: its later markers had no stream in the
    file (pyxdf read none of them). The header of a stream declared in a refused batch is written with the next."""
    states, out = run(tmp_path, "markers in the hole")
    k, holes = chunks_in(out)
    assert len(holes) == 1 and holes[0]["markers"] == 1 and states["end"]["unrecorded_markers"] == 1
    session = read_session(out)
    assert session.markers == [(1004.5, "right")] and session.marker_stream["name"] == "cues"
