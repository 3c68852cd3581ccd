"""The saturation warning (``load.warning``): said once per episode, with the figures and what to do, and its end;
a window too short or a loss at a backlog far from the buffer's limit (a sender's pause) says nothing."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bci_stream.service.saturation import SaturationWatch


def figures(busy: float | None, lost: int = 0, backlog_max: int = 0, window_s: float = 10.0,
            rate: float = 200.0, backlog: int | None = None) -> dict[str, Any]:
    return {"window_s": window_s, "input_rate_hz": rate, "busy": busy, "samples_lost": lost,
            "backlog_samples": backlog_max if backlog is None else backlog, "backlog_max": backlog_max}


def test_said_once_per_episode_with_its_figures_and_ended(caplog: pytest.LogCaptureFixture) -> None:
    events: list[tuple[str, dict]] = []
    seq = iter([figures(0.5), figures(0.999, lost=5613, backlog_max=3000), figures(0.999, lost=7000,
                backlog_max=3000), figures(0.9), figures(0.5)])
    watch = SaturationWatch(lambda now: next(seq), 1000.0, 3.0, lambda kind, **f: events.append((kind, f)),
                            "decoder x", shared=True)
    with caplog.at_level(logging.INFO, logger="bci_stream.worker"):
        said = [watch.describe(float(t))["warning"] for t in range(5)]
    assert said[0] is None and said[4] is None
    assert all(said[1:4])  # busy 0.9 is above the end threshold: still said
    assert "busy 100%" in said[1] and "5613 sample(s) lost" in said[1] and "5.00 ms of work per sample" in said[1]
    assert "1.00 ms" in said[1] and "dedicated worker" in said[1] and "7000 sample(s) lost" in said[2]
    assert [f["message"] is None for kind, f in events if kind == "saturated"] == [False, True]
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "cannot keep up" in warned[0].getMessage()
    assert any("keeping up again" in r.getMessage() for r in caplog.records)


def test_a_short_window_or_a_loss_without_a_full_backlog_says_nothing() -> None:
    seq = iter([figures(1.0, window_s=1.0), figures(0.2, lost=500, backlog_max=10), figures(0.2, lost=500,
                backlog_max=2900), figures(0.2, lost=500, backlog_max=2900)])
    watch = SaturationWatch(lambda now: next(seq), 1000.0, 3.0, lambda kind, **f: None, "decoder x")
    assert watch.describe(0.0)["warning"] is None  # the first seconds (a model warming up)
    assert watch.describe(1.0)["warning"] is None  # a gap of the sender: the backlog never near max_buffer_s
    assert watch.describe(2.0)["warning"] is None  # lost at a full buffer, still behind: the next report tells
    said = watch.describe(3.0)["warning"]  # lost at a full buffer, whatever busy says
    assert said is not None and "500 sample(s) lost" in said and "dedicated worker" not in said


def test_a_burst_beyond_the_buffer_is_said_as_one_not_as_a_slow_decoder() -> None:
    """A sender frozen 40 s flushes its samples in one push: 5,000 lost at a full buffer with the decoder busy 1 %
    (audit s63fault F1: the warning said it "cannot keep up" and advised a smaller model), its backlog drained since.
    The loss is said; the advice is the buffer's. Busy, or still behind (a flood, not a burst): the decoder's."""
    burst = figures(0.01, lost=5000, backlog_max=15000, rate=1608.0, backlog=0)
    watch = SaturationWatch(lambda now: burst, 500.0, 30.0, lambda kind, **f: None, "decoder x", shared=True)
    said = watch.describe(0.0)["warning"]
    assert said.startswith("5000 sample(s) lost in the last 10 s to the inlet's buffer (it keeps max_buffer_s=30 s and "
                           "drops the oldest; it held up to 15000 sample(s)) while the decoder was not saturated "
                           "(busy 1%)"), said
    assert "Raise options.max_buffer_s" in said and "cannot keep up" not in said and "smaller model" not in said
    saturated = SaturationWatch(lambda now: figures(0.99, lost=5000, backlog_max=15000), 500.0, 30.0,
                                lambda kind, **f: None, "decoder x")
    assert "cannot keep up" in saturated.describe(0.0)["warning"]
    # still behind, not saturated (the report came while the burst was pulled, or a flood began): the next report tells
    # (audit s68ingest F2: "cannot keep up ... busy 0% ... Use a smaller model" logged and recorded for a burst)
    for then, said in ((figures(0.99, lost=5000, backlog_max=15000), "cannot keep up"),
                       (figures(0.4, lost=5000, backlog_max=15000, backlog=14000), "Raise options.max_buffer_s"),
                       (figures(0.0, lost=736, backlog_max=1600, backlog=0), "Raise options.max_buffer_s")):
        seq = iter([figures(0.0, lost=736, backlog_max=1600, backlog=1088), then])
        events: list[tuple[str, dict]] = []
        behind = SaturationWatch(lambda now: next(seq), 160.0, 10.0, lambda kind, **f: events.append((kind, f)),
                                 "decoder x")
        assert behind.describe(0.0)["warning"] is None and events == []  # not yet said, nor recorded
        assert said in behind.describe(1.0)["warning"] and len(events) == 1 and said in events[0][1]["message"]


def test_an_overflow_of_a_buffer_one_pull_empties_is_said() -> None:
    """``max_buffer_s`` 1 s at 250 Hz: the inlet holds 250 samples, one pull (up to 512) takes them all, so the backlog
    left after it is 0 and a worker stopped for 3 s lost 500 samples with no warning (carried from s68: the losing
    rule read the backlog after a chunk only). The most the inlet held at a pull (``held_max``) says it."""
    stalled = {**figures(0.05, lost=500, backlog_max=0, rate=250.0, backlog=0), "held_max": 250}
    watch = SaturationWatch(lambda now: stalled, 250.0, 1.0, lambda *a, **k: None, "decoder x")
    said = watch.check(stalled)  # drained at once (a burst, not a slow decoder)
    assert said is not None and said.startswith("500 sample(s) lost in the last 10 s to the inlet's buffer (it keeps "
                                                 "max_buffer_s=1 s and drops the oldest; it held up to 250 sample(s))")


def test_the_load_window_keeps_the_most_the_inlet_held_at_a_pull() -> None:
    from bci_stream.core.status import Counters
    from bci_stream.service.liveness import LoadWindow
    from bci_stream.service.metrics import LatencyHistogram
    from bci_stream.service.reporter import STAGES

    window = LoadWindow(Counters(), {stage: LatencyHistogram() for stage in STAGES}, 250.0, 0.0)
    window.chunk(0.001, 0, 10)
    window.chunk(0.001, 3, 250)  # the buffer's whole content pulled at once, 3 samples came meanwhile
    window.chunk(0.001, 0, 10)
    got = window.describe(0.5)
    assert (got["backlog_max"], got["held_max"]) == (3, 253)
