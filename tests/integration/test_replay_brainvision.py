"""``replay`` of a BrainVision recording (as BrainVision Recorder writes it: INT_16 at 0.1 µV per bit, an EOG channel
named ``VEOG``, a GSR channel in µS, ``Stimulus`` markers and a ``New Segment`` at a pause) over real LSL on
loopback: a pylsl inlet reads the EEG in µV, the EOG typed EOG, the GSR in µS, and the markers named as a label map
names them (``Stimulus/S  1``, two spaces), the pause as ``New Segment/``.

Before the fix the stream said ``EEG`` for the VEOG and sent the GSR in siemens labelled µS.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pylsl
import pytest

from bci_stream.io import load_recording
from bci_stream.lsl.info import desc_channel_values
from support.brainvision import subset_brainvision, write_brainvision
from support.common import unique
from support.lsl import open_replayed, pull_all, replay_in_thread, wait_for

pytest.importorskip("mne")

N = 480  # 3 s at 160 Hz: cues T0 at 0 and T2 at 672 are past it, so the markers are written here
MARKERS = [("Stimulus", "S  1", 40, 1), ("Stimulus", "S  2", 200, 1), ("Response", "R  1", 300, 1)]


@pytest.fixture(scope="module")
def lab_vhdr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four real EEG channels of S001R05 (0.1 µV per bit), a VEOG and a GSR (µS), Recorder's markers."""
    folder = tmp_path_factory.mktemp("bv")
    eeg = load_recording(subset_brainvision(folder / "src", n_times=N))
    rng = np.random.default_rng(4)
    data = np.vstack([eeg.data[[8, 10, 12, 16]], 3 * eeg.data[:1], 5 + 0.1 * rng.standard_normal((1, N))])
    data[-1] = np.rint(data[-1] * 1000) / 1000  # 0.001 µS per bit
    return write_brainvision(folder / "lab", data, eeg.sfreq, ["C3", "Cz", "C4", "Cp1", "VEOG", "GSR"],
                             units=["µV"] * 5 + ["µS"], resolutions=[0.1] * 5 + [0.001], markers=MARKERS,
                             new_segments=[250])


def test_replay_streams_a_brainvision_files_units_types_and_markers(lab_vhdr: Path) -> None:
    rec = load_recording(lab_vhdr)
    name, release, result = unique("bvreplay"), threading.Event(), {}

    thread = replay_in_thread(lab_vhdr, name, release, result, chunk_size=16, speed=4.0)
    try:
        inlet, info = open_replayed(name)
        marks = pylsl.StreamInlet(pylsl.resolve_bypred(f"name='{name}-markers'", 1, 30.0)[0])
        marks.open_stream(timeout=10.0)
        release.set()
        x, _ = pull_all(inlet, N, timeout=60)
        got: list[str] = []

        def all_markers() -> bool:
            got.extend(sample[0] for sample in marks.pull_chunk(timeout=0.1)[0])
            return len(got) >= len(MARKERS) + 1

        wait_for(all_markers, 30, "the replayed markers")
        inlet.close_stream()
        marks.close_stream()  # the replay lingers until its consumers are gone
        thread.join(30)
    finally:
        release.set()
    assert "error" not in result and result["pushed"] == N, result
    assert desc_channel_values(info, "label") == ["C3", "Cz", "C4", "Cp1", "VEOG", "GSR"]
    assert desc_channel_values(info, "type") == ["EEG"] * 4 + ["EOG", "MISC"]
    assert desc_channel_values(info, "unit") == ["microvolts"] * 5 + ["µS"]
    np.testing.assert_array_equal(x, rec.data.T.astype(np.float32))
    assert 4.0 < float(x[:, -1].mean()) < 6.0  # µS, not 5e-6
    assert got == ["Stimulus/S  1", "Stimulus/S  2", "New Segment/", "Response/R  1"]
