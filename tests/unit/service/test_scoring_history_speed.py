"""The live scorer's history of outputs, for a cue marker that arrives after its samples were decoded, is
``options.markers.history_s`` of samples at the nominal rate: a replay S times faster than real time fills it S
times faster in wall time. Before the fix the history was a fixed 30 s, so at ``evaluate --live --speed 32`` a cue
marker reaching the scorer some 0.9 s (wall) after its samples were decoded was counted ``missed`` and the
evaluation's ``service_scoring_identical`` check failed on a correct service. Now the option sizes it and evaluate
sets it to 30 s x speed.

Deterministic: outputs and a late marker are fed straight to the scorer / hub (no sleeps); the hub is built by
:meth:`MarkerHub.start`, as the worker builds it, its real follower stopped at once."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest

from bci_stream.core.registry import ModelRegistry
from bci_stream.core.spec import DecoderOptions, MarkerOptions
from bci_stream.service.markers import MarkerHub
from bci_stream.service.scoring import LiveScorer, ScoringConfig
from bci_stream.train.evaluate.live_scoring import MAX_HISTORY_S, MIN_HISTORY_S, scorer_history_s
from support.common import REPO

LABELS = ["rest", "fists", "feet"]
SFREQ = 160.0
SPEED = 32.0
DECISION_S = 2.0


def _late_marker(scorer: LiveScorer, wall_late_s: float) -> dict:
    """A replay at SPEED: a cue at recording second 5, its marker reaching the scorer ``wall_late_s`` (wall time)
    after its decision sample was decoded."""
    period = 1.0 / (SFREQ * SPEED)  # the replay stamps sample k at t0 + k * period
    n = int(round((5.0 + DECISION_S) * SFREQ + wall_late_s * SFREQ * SPEED))
    ts = 1000.0 + np.arange(n) * period
    y = np.full((n, len(LABELS)), 0.1, dtype=np.float32)
    y[:, 2] = 0.8  # feet throughout: the cue's class
    for lo in range(0, n, 32):
        scorer.outputs(ts[lo:lo + 32], y[lo:lo + 32])
    scorer.marker("T2", ts[int(5.0 * SFREQ)])
    return scorer.describe()


def test_a_marker_late_by_a_wall_second_at_speed_32_is_scored_with_the_history_evaluate_sets():
    config = ScoringConfig({"T1": "fists", "T2": "feet"}, DECISION_S, "test")
    default = _late_marker(LiveScorer(config, LABELS, SFREQ), wall_late_s=1.0)  # 32 s of recording: out of 30 s
    assert (default["trials"], default["missed"]) == (0, 1)
    assert scorer_history_s(SPEED) == 30.0 * SPEED
    scaled = _late_marker(LiveScorer(config, LABELS, SFREQ, history_s=scorer_history_s(SPEED)), wall_late_s=1.0)
    assert (scaled["trials"], scaled["correct"], scaled["missed"]) == (1, 1, 0)
    # the wall-time margin no longer shrinks with the speed: 25 s late (wall) still scores, 31 s does not
    late = _late_marker(LiveScorer(config, LABELS, SFREQ, history_s=scorer_history_s(SPEED)), wall_late_s=25.0)
    assert (late["trials"], late["missed"]) == (1, 0)
    too_late = _late_marker(LiveScorer(config, LABELS, SFREQ, history_s=scorer_history_s(SPEED)), wall_late_s=31.0)
    assert (too_late["trials"], too_late["missed"]) == (0, 1)


def test_history_s_reaches_the_scorer_the_worker_builds_and_is_bounded():
    card = ModelRegistry(REPO / "models").get("eegmmidb-s001").card
    opts = DecoderOptions(markers={"history_s": 960.0, "stream": {"name": "bci-no-such-markers-stream"}}).markers
    hub = MarkerHub.start(opts, card, "bci-no-such-stream", "nohost", SFREQ, "auto")
    try:
        assert hub.scorer.capacity >= 960 * SFREQ
    finally:
        hub.close()
    default = MarkerHub.start(MarkerOptions(stream={"name": "bci-no-such-markers-stream"}), card,
                              "bci-no-such-stream", "nohost", SFREQ, "auto")
    try:
        assert default.scorer.capacity < 31 * SFREQ + DECISION_S * SFREQ + 1
    finally:
        default.close()
    for bad in (0.0, -1.0, 1201.0, float("nan")):
        with pytest.raises(pydantic.ValidationError, match="history_s"):
            MarkerOptions(history_s=bad)
    assert scorer_history_s(1.0) == 30.0 and scorer_history_s(100.0) == 1200.0  # at most the spec's bound
    field = MarkerOptions.model_fields["history_s"]
    assert field.default == MIN_HISTORY_S and [m.le for m in field.metadata if hasattr(m, "le")] == [MAX_HISTORY_S]
