"""`bci-stream record` of a replay much faster than real time (the README's dry run: `replay --speed S
--wait-for-consumer 20`, recorded): every sample is in the file. Before, the recorder's inlet held 60 s of the stream
and its first pull waited for the clock probe (up to 2 s), so a replay at 100x or 1000x pushed its whole file into a
buffer that kept the last 60 s: the rest was lost from the file's start, unseen ("lost 0"; audit s67rec F12).

Real LSL on loopback, a real file: the repository's EEGMMIDB S001R06 (64 channels, 125 s at 160 Hz), replayed at
1000x by ``run_replay`` and recorded by RecordOnly."""

from __future__ import annotations

import numpy as np

from bci_stream.io import load_recording
from integration.test_record_cli import record_replayed
from support.common import SUBSET_R06, subset_file


def test_a_replay_at_1000x_is_recorded_whole(tmp_path) -> None:
    sent = load_recording(subset_file(SUBSET_R06))
    assert sent.n_times / sent.sfreq > 2 * 60  # more than the 60 s the inlet held before
    out = tmp_path / "fast.xdf"
    _, _, totals, pushed = record_replayed(SUBSET_R06, sent, out, 1000.0)
    assert pushed == sent.n_times
    assert (totals.samples, totals.lost, totals.markers) == (sent.n_times, 0, len(sent.events))
    back = load_recording(out)
    np.testing.assert_allclose(back.data, sent.data, atol=1e-3)  # every sample, from the first, in order (µV)
    assert [(e.onset, e.description) for e in back.events] == [(e.onset, e.description) for e in sent.events]
