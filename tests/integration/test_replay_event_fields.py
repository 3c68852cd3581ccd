"""``bci-stream replay FILE.set --event-fields type,position`` names each cue as ``calibrate --event-fields`` names it,
so a model calibrated with that option scores the replay (before: replay had no such option and sent the bare
``type``, ``square``, which such a model's marker map does not hold; found by an exploratory run). EEGLAB's real
tutorial data set (80 ``square`` events whose side is in ``position``), replayed over real LSL on loopback."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

import pylsl
import pytest

from support.common import SHARED_DATA, require_full_data, unique

pytestmark = [pytest.mark.timeout(180)]
SET = SHARED_DATA / "eeglab" / "eeglab_data.set"


def test_replay_names_eeglab_events_by_the_fields_given():
    path = require_full_data(SET, SHARED_DATA / "eeglab" / "eeglab_data.fdt")
    name = unique("replay-fields")
    proc = subprocess.Popen([sys.executable, "-m", "bci_stream", "replay", str(path), "--name", name, "--speed", "50",
                             "--event-fields", "type,position", "--wait-for-consumer", "60", "--linger", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        markers = pylsl.StreamInlet(pylsl.resolve_byprop("name", f"{name}-markers", 1, 60)[0])
        markers.open_stream(30)
        data = pylsl.StreamInlet(pylsl.resolve_byprop("name", name, 1, 60)[0])
        data.open_stream(30)  # the replay starts once its data has a consumer
        got: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            data.pull_chunk(timeout=0.0, max_samples=4096)
            chunk, _ = markers.pull_chunk(timeout=0.05)
            got += [m[0] for m in chunk]
        out = proc.communicate(timeout=30)[0]
        chunk, _ = markers.pull_chunk(timeout=0.5)
        got += [m[0] for m in chunk]
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    counts = Counter(got)
    assert set(counts) == {"square/1", "square/2", "rt"} and counts["square/1"] + counts["square/2"] == 80, counts
    assert counts["rt"] == 74, counts
