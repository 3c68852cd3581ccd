"""Live trial scoring across a state change: a cue whose decision output was decoded in another state epoch than its
first output (a model swap, a reset, a state restore or a gap-policy reset between cue and decision: ``state_epoch``
advanced) is counted as ``interrupted``, never scored; a cue decided within one epoch is scored as before, and per-row
epochs (a gap policy inside a chunk) are read row by row."""

from __future__ import annotations

import numpy as np

from bci_stream.service.scoring import LiveScorer, ScoringConfig

LABELS = ["rest", "left", "right"]
SFREQ = 100.0


def _y(n: int, cls: int = 1) -> np.ndarray:
    y = np.full((n, len(LABELS)), 0.1, dtype=np.float32)
    y[:, cls] = 0.8
    return y


def test_a_cue_whose_decision_falls_after_a_swap_or_reset_is_interrupted_not_scored():
    scorer = LiveScorer(ScoringConfig({"L": "left"}, 1.0, "test"), LABELS, SFREQ)
    scorer.marker("L", 10.0)  # decided at 11.0 s
    scorer.marker("L", 12.0)  # decided at 13.0 s, all in epoch 1
    scorer.outputs(10.0 + np.arange(50) / SFREQ, _y(50), 0)  # 10.0 .. 10.49 s in epoch 0
    scorer.outputs(10.5 + np.arange(300) / SFREQ, _y(300), 1)  # a swap at 10.5 s: epoch 1 from there
    d = scorer.describe()
    assert (d["trials"], d["correct"], d["interrupted"], d["missed"], d["pending"]) == (1, 1, 1, 0, 0)
    assert d["last"][0]["cue_t"] == 12.0


def test_per_row_epochs_of_a_chunk_are_read_row_by_row():
    scorer = LiveScorer(ScoringConfig({"L": "left"}, 0.5, "test"), LABELS, SFREQ)
    scorer.marker("L", 1.0)  # decided at 1.5 s: the gap-policy reset at 1.2 s lies between
    scorer.marker("L", 1.3)  # decided at 1.8 s: after it, one epoch
    epochs = np.where(np.arange(200) < 120, 3, 4)  # rows from 1.2 s on were decoded after the reset
    scorer.outputs(np.arange(200) / SFREQ, _y(200), epochs)
    d = scorer.describe()
    assert (d["trials"], d["interrupted"]) == (1, 1)
