"""A shared worker's own busy share (:class:`bci_stream.service.worker_load.WorkerLoad`): nothing in its first 3 s,
then 1 - waited / elapsed over a window sliding in 1 s steps."""

from __future__ import annotations

import pytest

from bci_stream.service.worker_load import MIN_SPAN_S, WINDOW_S, WorkerLoad


def test_the_share_not_spent_waiting_over_the_recent_window() -> None:
    load = WorkerLoad(100.0)
    assert load.busy(100.0 + MIN_SPAN_S - 0.5) is None  # too short to say
    for t in range(1, 31):  # 30 s waiting half of each second, then 10 s never waiting
        load.waited(0.5)
        load.busy(100.0 + t)
    assert load.busy(130.0) == pytest.approx(0.5, abs=0.06)
    for t in range(31, 31 + int(WINDOW_S) + 2):
        load.busy(100.0 + t)
    assert load.busy(100.0 + 31 + WINDOW_S + 1) == pytest.approx(1.0)  # the window no longer holds a wait
    load.waited(1e6)  # a wait longer than the window (a poll across a suspend): clipped, never below 0
    assert load.busy(100.0 + 45) == 0.0
