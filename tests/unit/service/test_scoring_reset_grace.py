"""A reset on the cue (a client that resets the decoder on each cue marker reacts some samples late) starts the
trial: scored, counted in ``reset_at_start``; a reset later in the trial, a gap-policy reset (no API reset) or a
swap still interrupt it. After a hot swap the scorer follows the new model's map and keeps the last one's score."""

from __future__ import annotations

import numpy as np

from bci_stream.core.card import ModelCard, ScoringSpec
from bci_stream.core.spec import MarkerOptions
from bci_stream.service.scoring import RESET_GRACE_S, LiveScorer, ScoringConfig
from bci_stream.service.scoring_swap import ScorerSetup, follow_swap, make_scorer

LABELS = ["rest", "left", "right"]
SFREQ = 100.0
T0 = 1000.0


def run(resets: dict[int, int], cue_samples: list[int], n: int = 1200, chunk: int = 5,
        api: bool = True) -> LiveScorer:
    """Outputs always ``left``; cues ``L`` at ``cue_samples``; a state change before input sample ``s`` (keys of
    ``resets``, value: unused) told to the scorer as an API reset when ``api`` (else a gap-policy reset)."""
    scorer = LiveScorer(ScoringConfig({"L": "left"}, 2.0, "test", "m@1"), LABELS, SFREQ)
    y = np.tile(np.array([[0.1, 0.8, 0.1]], dtype=np.float32), (chunk, 1))
    epoch = 0
    for i in range(0, n, chunk):
        if i in resets:
            epoch += 1
            if api:
                scorer.epoch_started(epoch, i)
        for c in cue_samples:
            if i <= c < i + chunk:
                scorer.marker("L", T0 + c / SFREQ)
        scorer.outputs(T0 + np.arange(i, i + chunk) / SFREQ, y, epoch, np.arange(i, i + chunk))
    return scorer


def test_a_reset_just_after_the_cue_starts_the_trial_and_is_scored():
    grace = int(round(RESET_GRACE_S * SFREQ))
    d = run({105: 0, 405: 0}, [100, 405 - grace + 5]).describe()  # 5 samples after, and grace - 5 samples after
    assert (d["trials"], d["correct"], d["interrupted"], d["reset_at_start"]) == (2, 2, 0, 2)
    assert [t.get("reset_after_s") for t in d["last"]] == [0.05, (grace - 5) / SFREQ]
    assert d["reset_grace_s"] == RESET_GRACE_S and d["model"] == "m@1"


def test_a_reset_before_the_cue_is_a_plain_trial():
    d = run({95: 0}, [100]).describe()
    assert (d["trials"], d["interrupted"], d["reset_at_start"]) == (1, 0, 0)
    assert "reset_after_s" not in d["last"][0]


def test_a_reset_later_in_the_trial_interrupts_it():
    grace = int(round(RESET_GRACE_S * SFREQ))
    d = run({100 + grace + 5: 0, 500: 0}, [100, 400]).describe()  # past the grace; 1 s into the trial
    assert (d["trials"], d["interrupted"], d["reset_at_start"]) == (0, 2, 0)


def test_a_gap_policy_reset_on_the_cue_still_interrupts_it():
    d = run({105: 0}, [100], api=False).describe()
    assert (d["trials"], d["interrupted"], d["reset_at_start"]) == (0, 1, 0)


def test_a_reset_on_the_cue_then_another_in_the_trial_interrupts_it():
    d = run({105: 0, 200: 0}, [100]).describe()
    assert (d["trials"], d["interrupted"]) == (0, 1)


def card(marker_map: dict[str, str | None], decision_time_s: float = 1.0) -> ModelCard:
    """The bundled fists/feet card with its own ``scoring`` map."""
    from bci_stream.core.registry import ModelRegistry
    from support.common import REPO

    base = ModelRegistry(REPO / "models").get("eegmmidb-s001").card
    return base.model_copy(update={"scoring": ScoringSpec(marker_map=marker_map, decision_time_s=decision_time_s)})


def test_a_swap_follows_the_new_map_keeps_the_history_and_the_last_score():
    setup = ScorerSetup(MarkerOptions(), SFREQ, 0.5)
    old, why = make_scorer(setup, card({"1": "fists", "0": "feet"}))
    assert why is None and old is not None
    fists = np.tile(np.array([[0.8, 0.2]], dtype=np.float32), (10, 1))
    for i in range(0, 300, 10):
        old.outputs(T0 + np.arange(i, i + 10) / SFREQ, fists, 0, np.arange(i, i + 10))
    old.marker("1", T0 + 0.5)  # decided at 1.5 s: correct
    old.marker("1", T0 + 2.5)  # anchored, its decision not decoded yet: interrupted by the swap
    old.marker("0", T0 + 3.5)  # not decoded yet: the new model's trial, under the new map
    new, why, _ = follow_swap(old, setup, card({"0": "fists", "2": "feet"}, 0.5), 1)
    assert why is None and new is not None
    assert new.previous is not None and (new.previous["trials"], new.previous["correct"],
                                         new.previous["interrupted"]) == (1, 1, 1)
    assert new.previous["marker_map"] == {"1": "fists", "0": "feet"}
    assert new.config.marker_map == {"0": "fists", "2": "feet"} and new.n_after == 50
    assert new._written == 300 and new.pending == [[T0 + 3.5, "0", 0, -1]]
    new.marker("0", T0 + 0.2)  # a late marker of a cue decided before the swap: interrupted, never this map's trial
    for i in range(300, 500, 10):
        new.outputs(T0 + np.arange(i, i + 10) / SFREQ, fists, 1, np.arange(i, i + 10))
    d = new.describe()
    assert (d["trials"], d["correct"], d["interrupted"], d["pending"]) == (1, 1, 1, 0)
    assert d["model"].startswith("eegmmidb-s001@") and d["previous"] == new.previous
