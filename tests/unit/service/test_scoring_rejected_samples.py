"""A cue whose samples up to its decision include samples ``nan_policy: reject`` dropped is ``missed`` at any replay
speed: the scorer counts input samples (seq), not only seconds of timestamps, which a replay S times faster than real
time compresses S times (the audit's file: 100 samples rejected 1 s after a cue, missed at 1x, scored late at 4x)."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.service.scoring import LiveScorer, ScoringConfig

SFREQ = 160.0
CONFIG = ScoringConfig(marker_map={"769": "left", "770": "right"}, decision_time_s=2.0, source="test")


def _score(speed: float, hole: int) -> LiveScorer:
    """10 s of outputs (all 'left') replayed ``speed`` times faster than real time, a cue '769' at recording second 2,
    and ``hole`` input samples rejected from recording second 3 on (no output for them)."""
    scorer = LiveScorer(CONFIG, ["left", "right"], SFREQ)
    seq = np.arange(int(10 * SFREQ))
    start = int(3 * SFREQ)
    seq = np.r_[seq[:start], seq[start + hole:]]  # the outputs that exist: rejected samples have none
    ts = 1000.0 + seq / (SFREQ * speed)  # each output keeps its input sample's timestamp
    y = np.tile([0.9, 0.1], (len(seq), 1))
    scorer.marker("769", 1000.0 + 2.0 / speed)
    for a in range(0, len(seq), 16):
        scorer.outputs(ts[a:a + 16], y[a:a + 16], 0, seq[a:a + 16])
    return scorer


@pytest.mark.parametrize("speed", [1.0, 4.0, 32.0])
def test_a_cue_with_rejected_samples_before_its_decision_is_missed_at_any_speed(speed: float) -> None:
    scorer = _score(speed, hole=100)
    assert (scorer.trials, scorer.missed) == (0, 1)


@pytest.mark.parametrize("speed", [1.0, 4.0])
def test_a_cue_without_a_hole_or_with_one_inside_the_lag_is_scored(speed: float) -> None:
    for hole in (0, 40):  # 40 samples = 0.25 s < max_lag_s 0.5 s: within the tolerance, as a short time gap is
        scorer = _score(speed, hole=hole)
        assert (scorer.trials, scorer.correct, scorer.missed) == (1, 1, 0), hole
