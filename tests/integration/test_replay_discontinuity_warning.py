"""``replay`` of a recording that is not continuous says so at the start (session 21, defect 2).

A BrainVision file with a pause (Recorder's ``New Segment`` after the first), an EEGLAB file with ``boundary``
events (data cut out) or files joined by mne (``BAD boundary``/``EDGE boundary``) are streamed as if they were
continuous: the samples on both sides go out back to back and the stream's timestamps run on (checked here on a real
pylsl inlet). Before the fix the replay said nothing of it; now one ``warning: FILE: ...`` line on stderr names the
file, how many such points and at which times. Data: real EEG of EEGMMIDB S001 R05 (21-channel subset), written as
BrainVision Recorder writes it (``tests/support/brainvision.py``) and as an EEGLAB ``.set``
(``tests/support/marked.py``); the command is the real ``python -m bci_stream replay`` on loopback LSL.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import Recording, load_recording
from bci_stream.io.errors import RecordingWarning
from bci_stream.io.recording import Event
from bci_stream.sim.replay import discontinuity_warning
from support.brainvision import subset_brainvision
from support.common import REPO, unique
from support.lsl import open_replayed, pull_all, replay_in_thread

pytest.importorskip("mne")

N = 480  # 3 s at 160 Hz
PAUSES = [240, 400]  # New Segment at t = 1.5 s and 2.5 s


@pytest.fixture(scope="module")
def paused(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return subset_brainvision(tmp_path_factory.mktemp("bvpause") / "paused", n_times=N, new_segments=PAUSES)


def _replay(path: Path, name: str, speed: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bci_stream", "replay", str(path), "--name", name, "--speed",
                           f"{speed:g}", "--linger", "0"], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_replay_of_a_paused_brainvision_file_warns_at_the_start(paused: Path) -> None:
    name = unique("bvpaused")
    run = _replay(paused, name, 16)
    assert run.returncode == 0, run.stderr
    mine = [line for line in run.stderr.splitlines() if "paused.vhdr" in line]
    assert mine == ["warning: paused.vhdr: the recording is not continuous at 2 point(s): New Segment/ (BrainVision "
                    "Recorder paused and resumed) at t=1.500, 2.500 s; the replay streams the samples on both sides "
                    "of each back to back and the stream's timestamps run on through them as if the recording were "
                    "continuous (the time paused or cut out is not in the stream; each point is the marker "
                    f"'{name}-markers' sends)"], run.stderr
    assert "pushed 480 samples" in run.stdout


def test_replay_of_an_eeglab_file_with_boundaries_warns_too(tmp_path: Path) -> None:
    from support.marked import eeglab_with_boundaries

    path = eeglab_with_boundaries(tmp_path / "cut.set", [20.0, 50.0])
    run = _replay(path, unique("cutset"), 64)
    assert run.returncode == 0, run.stderr
    mine = [line for line in run.stderr.splitlines() if "cut.set: the recording is not continuous" in line]
    assert len(mine) == 1 and mine[0].startswith("warning: cut.set: the recording is not continuous at 2 point(s): "
                                                 "boundary (EEGLAB: data cut out) at t=20.000, 50.000 s;"), run.stderr
    # mne's own warning at load (every command) names neither the times nor what the stream does with them
    assert "warning: cut.set: The data contains 'boundary' events" in run.stderr


def test_the_warning_by_kind_and_none_for_a_continuous_file() -> None:
    """mne's junction of joined files writes two events at one point; one at sample 0 follows no data."""
    def rec(events: list[Event]) -> Recording:
        return Recording(data=np.zeros((1, 1600)), sfreq=160.0, ch_names=["Cz"], events=events, source="x.fif")

    joined = rec([Event(0, 0, "boundary"), Event(800, 0, "BAD boundary"), Event(800, 0, "EDGE boundary"),
                  Event(900, 0, "T1")])
    said = discontinuity_warning(joined, "x.fif", "s-markers")
    assert said is not None and said.startswith("x.fif: the recording is not continuous at 1 point(s): BAD boundary "
                                                "(mne: files joined) at t=5.000 s; EDGE boundary (mne: files "
                                                "joined) at t=5.000 s; the replay streams")
    assert discontinuity_warning(rec([Event(0, 0, "New Segment/"), Event(900, 0, "T1")]), "x.fif", "m") is None


def test_the_stream_runs_on_through_a_pause(paused: Path) -> None:
    """What the warning says: the samples after the pause follow those before it at the nominal rate."""
    name, release, result = unique("bvpause"), threading.Event(), {}
    with pytest.warns(RecordingWarning, match=r"paused.vhdr: the recording is not continuous at 2 point\(s\)"):
        thread = replay_in_thread(paused, name, release, result, chunk_size=16, speed=8.0)
        try:
            inlet, _ = open_replayed(name)
            release.set()
            x, stamps = pull_all(inlet, N, timeout=60)
            inlet.close_stream()
            thread.join(30)
        finally:
            release.set()
    assert "error" not in result and result["pushed"] == N, result
    np.testing.assert_array_equal(x, load_recording(paused).data.T.astype(np.float32))
    step = np.diff(np.asarray(stamps))
    np.testing.assert_allclose(step, 1 / (160.0 * 8.0), rtol=1e-6)  # no gap at samples 240, 400
