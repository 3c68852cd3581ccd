"""The recent-window load figures of a decoder (``LoadWindow``): a fake clock passed in, real counters and histograms.

The worker reports every ``status_interval`` (0.25 s here); each test drives chunks and reports at given times.
"""

from __future__ import annotations

import math

import pytest

from bci_stream.core.status import Counters
from bci_stream.service.liveness import LoadWindow
from bci_stream.service.metrics import LatencyHistogram, summarise
from bci_stream.service.reporter import STAGES

REPORT_S = 0.25
BUCKET = 10 ** (1 / 8)


class Stream:
    """A decoder's counters and histograms, a LoadWindow on them, and a clock that only the test moves."""

    def __init__(self, sfreq: float = 1000.0, t0: float = 100.0) -> None:
        self.counters = Counters()
        self.hists = {stage: LatencyHistogram() for stage in STAGES}
        self.sfreq, self.t = sfreq, t0
        self.window = LoadWindow(self.counters, self.hists, sfreq, t0)
        self.next_report = t0 + REPORT_S
        self.last: dict | None = None

    def run(self, seconds: float, chunk: int = 1, busy_s: float = 0.0004, e2e_s: float = 0.001,
            backlog: int = 0, rate: float | None = None) -> None:
        """Chunks of ``chunk`` samples at ``rate`` samples/s (default sfreq) for ``seconds``; a report every 0.25 s."""
        period = chunk / (rate or self.sfreq)
        for _ in range(round(seconds / period)):
            self.t += period
            self.report_until(self.t)
            self.counters.samples_in += chunk
            self.hists["service"].observe(busy_s)
            for _ in range(chunk):
                self.hists["e2e"].observe(e2e_s)
            self.window.chunk(busy_s, backlog)

    def silence(self, seconds: float) -> None:
        self.t += seconds
        self.report_until(self.t)

    def report_until(self, t: float) -> None:
        while self.next_report <= t:
            self.last = self.window.describe(self.next_report)
            self.next_report += REPORT_S

    def ms(self, stage: str, q: str = "p50") -> float:
        return summarise(self.last["hist"][stage])[q]


def near(ms: float, true_ms: float) -> bool:
    """Within the histogram's resolution (buckets 10^(1/8) = 1.33x wide)."""
    return true_ms / BUCKET < ms < true_ms * BUCKET


def test_before_any_chunk_the_figures_are_empty_not_zero_rates():
    s = Stream()
    fig = s.window.describe(s.t)
    assert fig["window_s"] == 0 and fig["input_rate_hz"] is None and fig["busy"] is None
    assert fig["backlog_samples"] == 0 and fig["backlog_max"] == 0 and fig["backlog_mean"] is None
    assert fig["hist"]["e2e"]["n"] == 0 and summarise(fig["hist"]["e2e"])["p50"] is None


def test_a_steady_stream_gives_its_rate_busy_fraction_and_latency_over_the_last_10_s():
    s = Stream()
    s.run(25.0, chunk=1, busy_s=0.0004, e2e_s=0.002)
    fig = s.last
    assert 9.0 <= fig["window_s"] <= 10.0  # a window of 10 s sliding in steps of 1 s (+ a report interval)
    assert fig["input_rate_hz"] == pytest.approx(1000.0, rel=0.01)
    assert fig["chunk_rate_hz"] == pytest.approx(1000.0, rel=0.01)
    assert fig["busy"] == pytest.approx(0.4, rel=0.01)
    assert fig["hist"]["e2e"]["n"] == pytest.approx(1000 * fig["window_s"], rel=0.01)
    assert near(s.ms("e2e"), 2.0) and near(s.ms("service", "p99"), 0.4)
    assert fig["hist"]["e2e"]["max"] == 0.002 and summarise(fig["hist"]["e2e"])["max"] == pytest.approx(2.0)
    assert fig["backlog_samples"] == 0 and fig["backlog_max"] == 0 and fig["backlog_mean"] == 0


def test_a_chunked_sender_keeping_up_shows_no_backlog_and_a_low_busy_fraction():
    """10 samples per push at 1 kHz: 100 chunks/s, each decoded in 4 ms; nothing left in the inlet after a chunk."""
    s = Stream()
    s.run(12.0, chunk=10, busy_s=0.004, e2e_s=0.009)
    fig = s.last
    assert fig["input_rate_hz"] == pytest.approx(1000.0, rel=0.01)
    assert fig["chunk_rate_hz"] == pytest.approx(100.0, rel=0.01)
    assert fig["busy"] == pytest.approx(0.4, rel=0.01)
    assert fig["backlog_max"] == 0


def test_a_saturated_decoder_shows_busy_near_1_and_a_backlog_after_every_chunk():
    s = Stream()
    s.run(12.0, chunk=2, busy_s=0.00199, e2e_s=0.3, backlog=2)
    fig = s.last
    assert fig["busy"] == pytest.approx(0.995, rel=0.01)
    assert fig["backlog_samples"] == 2 and fig["backlog_mean"] == 2 and fig["backlog_s"] == pytest.approx(0.002)


def test_recent_percentiles_follow_the_present_while_cumulative_ones_remember():
    s = Stream()
    s.run(30.0, e2e_s=0.001)
    s.run(10.5, e2e_s=0.5)  # falling behind now
    assert s.ms("e2e") > 300 and s.ms("e2e", "p99") > 300
    assert summarise(s.hists["e2e"].to_dict())["p50"] < 2  # the cumulative p50 hides it
    s.run(10.5, e2e_s=0.001)  # caught up again
    assert s.ms("e2e", "p99") < 2


def test_the_backlog_peak_leaves_the_window_and_the_last_value_is_the_latest_chunks():
    s = Stream()
    s.run(2.0)
    s.run(0.01, backlog=7)
    s.run(0.01, backlog=3)
    s.run(2.0)
    assert s.last["backlog_max"] == 7 and s.last["backlog_samples"] == 0
    assert 0 < s.last["backlog_mean"] < 0.1
    s.run(11.0)
    assert s.last["backlog_max"] == 0 and s.last["backlog_mean"] == 0


def test_a_silent_source_drives_the_rates_to_zero_within_a_window():
    s = Stream()
    s.run(12.0)
    s.silence(4.0)
    assert 0 < s.last["input_rate_hz"] < 1000 and 0 < s.last["busy"] < 0.4
    s.silence(7.0)
    fig = s.last
    assert fig["input_rate_hz"] == 0 and fig["chunk_rate_hz"] == 0 and fig["busy"] == 0
    assert fig["backlog_mean"] is None and fig["hist"]["e2e"]["n"] == 0 and 9.0 <= fig["window_s"] <= 10.0


def test_the_window_never_covers_more_than_10_s_while_reported_and_spans_a_pause_of_the_reports():
    s = Stream()
    spans = []
    for _ in range(60):
        s.run(0.25)
        spans.append(s.last["window_s"])
    assert max(spans) <= 10.0 and min(spans[45:]) >= 9.0
    s.t += 30.0  # the worker did not report for 30 s (no chunks either): the figures still cover real time
    fig = s.window.describe(s.t)
    assert fig["window_s"] > 30.0 and fig["input_rate_hz"] < 300 and math.isfinite(fig["busy"])
    assert s.window.describe(s.t + 0.25)["window_s"] == pytest.approx(0.25)


def test_a_window_shorter_than_its_step_is_refused():
    with pytest.raises(ValueError, match=r"step_s must be > 0 and <= window_s=1.0, got 2.0"):
        LoadWindow(Counters(), {stage: LatencyHistogram() for stage in STAGES}, 1000.0, 0.0, window_s=1.0,
                   step_s=2.0)


def test_the_window_has_its_own_max_and_no_percentile_passes_it():
    """A window's percentiles were interpolated up to their bucket's edge with no max to cap them: the demo showed
    p99 41.57 ms for a window whose every latency was at most 34 ms. The window's max is the largest latency of the
    steps it spans; a spike that has left the window no longer counts."""
    s = Stream()
    s.run(3.0, chunk=1, e2e_s=0.5)  # a spike, then a steady 34 ms (bucket 31.6-42.2 ms)
    s.run(15.0, chunk=1, e2e_s=0.034)
    fig = s.last
    assert fig["hist"]["e2e"]["max"] == 0.034  # the spike is older than the window
    got = summarise(fig["hist"]["e2e"])
    assert got["p99"] == got["p99_9"] == pytest.approx(34.0) and got["max"] == pytest.approx(34.0)
    s.run(0.5, chunk=1, e2e_s=0.036)
    assert s.last["hist"]["e2e"]["max"] == 0.036  # the current step's peak counts before its mark
    assert s.hists["e2e"].max == 0.5  # the cumulative max is kept
