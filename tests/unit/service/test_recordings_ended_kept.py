"""Recordings that ended by themselves stay listed until their DELETE, the oldest beyond ``KEEP_ENDED`` forgotten when
another starts (their files stay). Before (review s48 F5), every one stayed: 300 that failed fast (their stream never
found) made ``GET /recordings`` 0.97 MB and ``/metrics`` 0.38 MB, growing without end. The manager itself, real
recording threads looking for a stream that does not exist (no LSL stream is found)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bci_stream.core.spec import StreamSelector
from bci_stream.service import recordings as recordings_module
from bci_stream.service.recordings import Recordings
from support.common import unique
from support.lsl import wait_for


def test_the_oldest_ended_recordings_beyond_the_kept_number_are_forgotten(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recordings_module, "KEEP_ENDED", 3)
    recordings, missing = Recordings(str(tmp_path), max_recordings=2), StreamSelector(name=unique("nosuch"))
    started = []
    try:
        for k in range(6):
            started.append(recordings.start(f"r{k}.xdf", missing, None, "uV", None, 0.05))
            wait_for(lambda: started[-1].state == "error", 30, f"recording {k} to end (its stream is never found)")
            listed = [r.id for r in recordings.list()]
            assert listed == [r.id for r in started[-3:]], (k, listed)  # the 3 newest ended ones
        running = recordings.start("running.xdf", missing, None, "uV", None, 600.0)  # still searching: kept
        assert [r.id for r in recordings.list()] == [r.id for r in started[-2:]] + [running.id]
        assert recordings.get(started[0].id) is None and recordings.stop(started[0].id) is None  # DELETE: 404
    finally:
        recordings.shutdown()
