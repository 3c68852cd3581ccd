"""The recent window (``LoadWindow``, status ``load.latency_ms``) of e2e values below zero (a sender stamping ahead of
this host's clock, e.g. mne-lsl PlayerLSL): counted apart there too, with the status note, and left out of its
percentiles, as the cumulative histograms do (tests/unit/service/test_latency_negative.py). A clock only the test
moves; real counters and histograms."""

from __future__ import annotations

import numpy as np

from bci_stream.core.status import Counters
from bci_stream.service.liveness import LoadWindow
from bci_stream.service.metrics import LatencyHistogram, summarise
from bci_stream.service.reporter import STAGES


def test_the_recent_window_counts_values_below_zero_apart_and_says_so() -> None:
    counters, hists, t = Counters(), {stage: LatencyHistogram() for stage in STAGES}, 100.0
    hists["e2e"].observe_many(np.full(5, -0.03))  # before the window's first mark: not in it
    window = LoadWindow(counters, hists, 250.0, t)
    for k in range(250):
        counters.samples_in += 1
        hists["e2e"].observe(-0.02 if k % 5 == 0 else 0.004)
        window.chunk(0.0004, 0)
    fig = window.describe(t + 1.5)["hist"]["e2e"]
    assert (fig["n"], fig["n_negative"]) == (200, 50)
    s = summarise(fig)
    assert s["count"] == 250 and s["n_negative"] == 50
    assert abs(s["ahead_ms"] - 20.0) < 1e-9  # the window's own most negative (not the -30 ms before it)
    assert "ahead of this host's clock by up to 20" in s["note"]
    assert s["note"].startswith("50 of 250 values below zero: input timestamps ahead of this host's clock by up to 20")
    assert 3.0 < s["p50"] < 6.0  # the measured 4 ms, not the lowest bucket


def test_the_window_s_ahead_ms_goes_once_its_values_left_the_window() -> None:
    counters, hists, t = Counters(), {stage: LatencyHistogram() for stage in STAGES}, 0.0
    window = LoadWindow(counters, hists, 100.0, t)
    hists["e2e"].observe_many(np.array([-0.05, 0.002] * 10))  # 20 values: one array, numpy's path
    window.describe(t + 1.0)
    assert abs(summarise(window.describe(t + 1.5)["hist"]["e2e"])["ahead_ms"] - 50.0) < 1e-9
    for k in range(2, 30):  # only values at or above zero since: the 50 ms ahead slides out of the window
        hists["e2e"].observe(0.003)
        window.describe(t + k)
    s = summarise(window.describe(t + 30.0)["hist"]["e2e"])
    assert s["n_negative"] == 0 and s["ahead_ms"] is None and s["note"] is None
