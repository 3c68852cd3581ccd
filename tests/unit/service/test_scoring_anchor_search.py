"""The live scorer finds a cue's first output by a binary search over its kept outputs (a late marker at a long
history no longer scans it all), and gives the same output as a scan in output order: rising timestamps, ties,
a wrapped ring, an output no longer kept; after timestamps went back (a sender's clock reset) the cue anchors at the
output of its own time, where the scan took one from before the reset, or, when outputs from before the reset fill
most of the history, it lands before the reset and the cue is missed, never scored against another time."""

from __future__ import annotations

import numpy as np

from bci_stream.service.scoring import LiveScorer, ScoringConfig

CONFIG = ScoringConfig(marker_map={"left": "left", "right": "right"}, decision_time_s=2.0, source="test")


def _scan(scorer: LiveScorer, t_cue: float) -> int | None:
    """The former rule: the first kept output at or after ``t_cue`` in output order."""
    oldest = max(0, scorer._written - scorer.capacity)
    if scorer._written == 0 or scorer._at(scorer._written - 1)[0] < t_cue:
        return None
    idx = np.arange(oldest, scorer._written)
    i = int(idx[np.flatnonzero(scorer._ts[idx % scorer.capacity] >= t_cue)[0]])
    return -2 if i == oldest and oldest > 0 else i


def _fed(ts: np.ndarray, history_s: float = 1.0, sfreq: float = 100.0) -> LiveScorer:
    scorer = LiveScorer(CONFIG, ["left", "right"], sfreq, history_s=history_s)
    y = np.zeros((len(ts), 2))
    for a in range(0, len(ts), 7):  # chunks of 7, as a stream delivers them
        scorer.outputs(ts[a:a + 7], y[a:a + 7])
    return scorer


def test_the_binary_search_gives_the_scan_s_output_on_rising_tied_and_wrapped_timestamps() -> None:
    rng = np.random.default_rng(0)
    steps = rng.choice([0.0, 0.01, 0.01, 0.02], size=2000)  # ties (0.0) and jitter
    ts = 100.0 + np.cumsum(steps)
    scorer = _fed(ts)  # capacity ~ 1 s x 100 Hz + 2 s of decision samples: the ring has wrapped many times
    assert scorer._written > scorer.capacity
    for t_cue in np.r_[rng.uniform(ts[0] - 1, ts[-1] + 1, 500), ts[-300:], ts[0]]:
        assert scorer._anchor(float(t_cue)) == _scan(scorer, float(t_cue)), t_cue


def test_after_a_clock_reset_the_cue_anchors_where_its_time_falls_not_before_the_reset() -> None:
    ts = np.r_[np.arange(50) * 0.01 + 500.0, np.arange(50) * 0.01 + 10.0, np.arange(100) * 0.01 + 10.5]
    scorer = _fed(ts, history_s=30.0)  # nothing dropped: the clock reset is inside the kept outputs
    assert _scan(scorer, 10.2) == 0  # a scan in output order takes the first output before the reset (t = 500)
    assert scorer._anchor(10.2) == 70 and scorer._at(70)[0] == 10.2  # the output at the cue's own time
    for t_cue in (10.2, 10.49, 10.6, 11.49, 5.0):
        i = scorer._anchor(t_cue)
        assert scorer._at(i)[0] >= t_cue and (i == 0 or scorer._at(i - 1)[0] < t_cue), t_cue
    assert scorer._anchor(499.0) is None  # the newest output is before it: not decoded yet


def test_a_cue_after_a_clock_reset_that_anchors_before_the_reset_is_missed_not_scored() -> None:
    ts = np.r_[np.arange(2000) * 0.01 + 500.0, np.arange(150) * 0.01 + 10.0]  # most of the history before the reset
    scorer = LiveScorer(CONFIG, ["left", "right"], 100.0, history_s=30.0)
    scorer.marker("left", 10.2)
    y = np.tile([0.9, 0.1], (len(ts), 1))
    for a in range(0, len(ts), 7):
        scorer.outputs(ts[a:a + 7], y[a:a + 7])
    assert scorer._at(scorer._anchor(10.2))[0] == 500.0  # the search lands before the reset (more than max_lag_s)
    assert (scorer.trials, scorer.missed) == (0, 1)
