"""Latency values above the histogram's top edge (100 s; found by an exploratory run): a sender stamping its samples
100 s behind this host's clock (a clock of its own instead of LSL's local_clock) read e2e p50 = p99 = 100000 ms, the
top edge, while the mean said 100040 ms, and nothing said why. Percentiles in the overflow bucket now read as the
measured max, and the status's ``note`` says what such values mean."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.service.metrics import EDGES, LatencyHistogram, summarise


def test_percentiles_in_the_overflow_bucket_are_the_max_and_the_note_says_why():
    h = LatencyHistogram()
    h.observe_many(np.full(30, 0.004))  # 30 measured at 4 ms
    h.observe_many(100.01 + np.linspace(0.0, 0.07, 70))  # 70 stamped ~100 s behind
    s = summarise(h.to_dict())
    assert s["count"] == 100
    assert s["p50"] == pytest.approx(100080.0) and s["p99"] == pytest.approx(100080.0)  # the max, not the edge
    assert s["p50"] > EDGES[-1] * 1e3
    assert s["max"] == pytest.approx(100080.0)
    assert s["note"].startswith("70 of 100 values above 100 s: input timestamps far behind this host's clock")
    assert "load.backlog_s" in s["note"]


def test_no_note_without_values_beyond_the_top_and_both_notes_with_both():
    h = LatencyHistogram()
    h.observe_many(np.full(20, 0.004))
    assert summarise(h.to_dict())["note"] is None
    assert summarise(h.to_dict())["p50"] == pytest.approx(4.0, rel=0.1)
    h.observe(-0.01)
    h.observe(250.0)
    note = summarise(h.to_dict())["note"]
    assert note.startswith("1 of 22 values below zero") and "; 1 of 22 values above 100 s" in note
