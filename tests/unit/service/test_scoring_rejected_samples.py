"""Samples ``nan_policy: reject`` dropped have no output: the live scorer counts a cue's decision in input samples
(seq), so it decides at the cue's own decision sample at any replay speed (counting outputs decided 100 samples late,
which the timestamps called a gap at 1x and, compressed S times by a replay at speed S, not at 4x: the audit's file),
and a cue whose decision sample and ``max_lag_s`` after it were rejected is ``missed``."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.service.scoring import LiveScorer, ScoringConfig

SFREQ = 160.0
CONFIG = ScoringConfig(marker_map={"769": "left", "770": "right"}, decision_time_s=2.0, source="test")
CUE, DECISION = 320, 640  # recording samples: the cue at 2 s, its decision sample 2 s later


def _score(speed: float, hole: tuple[int, int], flip_at: int = 10 ** 9) -> LiveScorer:
    """10 s of outputs replayed ``speed`` times faster than real time, 'left' up to input sample ``flip_at`` and
    'right' from there, a cue '769' (left) at sample 320, and the input samples ``hole`` = [a, b) rejected."""
    scorer = LiveScorer(CONFIG, ["left", "right"], SFREQ)
    seq = np.arange(int(10 * SFREQ))
    seq = np.r_[seq[:hole[0]], seq[hole[1]:]]  # the outputs that exist: rejected samples have none
    ts = 1000.0 + seq / (SFREQ * speed)  # each output keeps its input sample's timestamp
    y = np.where((seq < flip_at)[:, None], [0.9, 0.1], [0.1, 0.9])
    scorer.marker("769", 1000.0 + CUE / (SFREQ * speed))
    for a in range(0, len(seq), 16):
        scorer.outputs(ts[a:a + 16], y[a:a + 16], 0, seq[a:a + 16])
    return scorer


@pytest.mark.parametrize("speed", [1.0, 4.0, 32.0])
def test_rejected_samples_between_cue_and_decision_do_not_move_the_decision(speed: float) -> None:
    # 100 samples rejected 1 s after the cue; the output turns 'right' 4 samples after the decision sample: counted
    # in outputs, the decision would fall 100 samples late, on 'right'
    scorer = _score(speed, hole=(480, 580), flip_at=DECISION + 4)
    assert (scorer.trials, scorer.correct, scorer.missed) == (1, 1, 0)
    assert scorer.last[-1]["decision_t"] == pytest.approx(1000.0 + DECISION / (SFREQ * speed))


@pytest.mark.parametrize("speed", [1.0, 4.0, 32.0])
def test_a_rejected_decision_sample_is_decided_at_the_next_kept_one_or_missed_beyond_the_lag(speed: float) -> None:
    near = _score(speed, hole=(DECISION - 5, DECISION + 40))  # 40 samples = 0.25 s < max_lag_s 0.5 s
    assert (near.trials, near.missed) == (1, 0)
    assert near.last[-1]["decision_t"] == pytest.approx(1000.0 + (DECISION + 40) / (SFREQ * speed))
    far = _score(speed, hole=(DECISION - 5, DECISION + 100))  # 0.625 s > max_lag_s
    assert (far.trials, far.missed) == (0, 1)
