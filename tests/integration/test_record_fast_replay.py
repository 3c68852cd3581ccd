"""`bci-stream record` of a replay much faster than real time (the README's dry run: `replay --speed S
--wait-for-consumer 20`, recorded): every sample is in the file. Before, the recorder's inlet held 60 s of the stream
and its first pull waited for the clock probe (up to 2 s), so a replay at 100x or 1000x pushed its whole file into a
buffer that kept the last 60 s: the rest was lost from the file's start, unseen ("lost 0"; audit s67rec F12).

Real LSL on loopback, a real file: the repository's EEGMMIDB S001R06 (64 channels, 125 s at 160 Hz), replayed at
1000x by ``run_replay`` and recorded by RecordOnly."""

from __future__ import annotations

import threading

import numpy as np

from bci_stream.io import load_recording
from bci_stream.service.record_only import RecordOnly
from support.common import SUBSET_R06, subset_file, unique
from support.lsl import wait_for


def test_a_replay_at_1000x_is_recorded_whole(tmp_path) -> None:
    from bci_stream.sim.replay import run_replay

    sent = load_recording(subset_file(SUBSET_R06))
    assert sent.n_times / sent.sfreq > 2 * 60  # more than the 60 s the inlet held before
    name, out = unique("rec1000x"), tmp_path / "fast.xdf"
    result: dict = {}
    replay = threading.Thread(target=lambda: result.update(pushed=run_replay(
        SUBSET_R06, name, recording=sent, speed=1000.0, wait_for_consumer=30.0, linger=3.0)), daemon=True)
    replay.start()
    rec, stop, got = RecordOnly(out, name), threading.Event(), {}
    rec.open()
    thread = threading.Thread(target=lambda: got.update(totals=rec.run(stop)), daemon=True)
    thread.start()
    try:
        replay.join(60.0)
        assert result.get("pushed") == sent.n_times
        wait_for(lambda: rec.counters.samples_in >= sent.n_times and rec.hub.received >= len(sent.events), 60.0,
                 "every sample and marker of the replay")
    finally:
        stop.set()
        thread.join(10.0)
        totals = rec.close()
    assert (totals.samples, totals.lost, totals.markers) == (sent.n_times, 0, len(sent.events))
    back = load_recording(out)
    np.testing.assert_allclose(back.data, sent.data, atol=1e-3)  # every sample, from the first, in order (µV)
    assert [(e.onset, e.description) for e in back.events] == [(e.onset, e.description) for e in sent.events]
