"""``replay`` with ``wait_for_consumer`` over real LSL on loopback: a decoder opens the data inlet first and
follows the markers a moment later (it resolves them once its data inlet is up); a cue at the recording's first
sample must still reach it. Before the fix, replay started as soon as the data had a consumer and that first
cue was pushed before anyone followed the markers: lost live and in the decoder's recording."""

from __future__ import annotations

import threading
import time

import numpy as np
import pylsl

from bci_stream.io.recording import Event, Recording
from bci_stream.sim.replay import run_replay
from support.common import unique


def test_a_cue_at_the_first_sample_reaches_a_marker_follower_that_connects_after_the_data(monkeypatch):
    # the replay holds its markers for the first follower at most MARKER_WAIT_S (3 s): this follower resolves and
    # opens the marker stream 0.5 s after the data, which a loaded machine may stretch past 3 s
    monkeypatch.setattr("bci_stream.sim.replay.MARKER_WAIT_S", 30.0)
    name, sfreq, n = unique("replaycue"), 100.0, 300
    cues = [(0, "T1"), (100, "T2"), (200, "T1")]
    rec = Recording(data=np.zeros((2, n)), sfreq=sfreq, ch_names=["C3", "C4"], labels=np.full(n, -1),
                    label_names=[], events=[Event(o, 0, d) for o, d in cues], source="memory")
    got: list[str] = []
    pulled = {"samples": 0}

    def follower() -> None:
        data = pylsl.StreamInlet(pylsl.resolve_byprop("name", name, 1, 30)[0])
        data.open_stream(30)
        time.sleep(0.5)  # the marker follower comes up a moment after the data inlet
        markers = pylsl.StreamInlet(pylsl.resolve_byprop("name", f"{name}-markers", 1, 30)[0])
        markers.open_stream(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (len(got) < len(cues) or pulled["samples"] < n):
            chunk, _ = data.pull_chunk(timeout=0.05)
            pulled["samples"] += len(chunk)
            sample, _ = markers.pull_sample(timeout=0.0)
            if sample is not None:
                got.append(sample[0])

    t = threading.Thread(target=follower, daemon=True)
    t.start()
    pushed = run_replay("memory.npz", name, recording=rec, speed=4.0, wait_for_consumer=30.0, linger=5.0)
    t.join(35)
    assert pushed == n and pulled["samples"] == n
    assert got == [d for _, d in cues]
