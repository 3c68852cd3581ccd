"""A ``ray.init`` that does not return within ``ray_start_timeout`` cannot be cancelled: its thread is left behind.
The refusal says what it may be (not a Ray GCS port, or a cluster too slow to answer: raise the timeout), and a second
connect in the same process is refused while that thread runs (two ``ray.init`` at once would race), then allowed
once it ended. No Ray here: :func:`start_bounded` runs the ``init`` it is given."""

from __future__ import annotations

import threading

import pytest

from bci_stream.core.errors import PlacementError
from bci_stream.service.backends import ray_connect
from bci_stream.service.backends.ray_connect import start_bounded


def test_a_second_connect_waits_for_the_left_behind_init(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray_connect, "_LEFT_BEHIND", None)
    release, calls = threading.Event(), []

    def slow_init() -> None:
        calls.append("slow")
        release.wait(30.0)

    with pytest.raises(PlacementError) as first:
        start_bounded(slow_init, None, 0.2)
    said = str(first.value)
    assert "within 0.2 s" in said and "not a Ray GCS port" in said and "too slow to answer" in said, said
    assert "raise ray_start_timeout, BCI_STREAM_RAY_START_TIMEOUT" in said, said
    with pytest.raises(PlacementError, match=r"earlier connect \(ray_address=None\) that timed out is still running"):
        start_bounded(lambda: calls.append("second"), None, 5.0)
    assert calls == ["slow"]  # the second ray.init never started
    release.set()
    ray_connect._LEFT_BEHIND[0].join(30.0)
    start_bounded(lambda: calls.append("third"), None, 5.0)  # the left-behind one ended: connecting is allowed again
    assert calls == ["slow", "third"]
