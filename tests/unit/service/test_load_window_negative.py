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
    assert s["count"] == 250 and s["n_negative"] == 50 and s["ahead_ms"] is None  # no per-window minimum
    assert s["note"].startswith("50 of 250 values below zero: input timestamps ahead of this host's clock (")
    assert 3.0 < s["p50"] < 6.0  # the measured 4 ms, not the lowest bucket
