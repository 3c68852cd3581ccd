"""The reset grace of live scoring is the decoder's option (``options.markers.reset_grace_s``, default
:data:`~bci_stream.service.scoring.RESET_GRACE_S`): a reset that long after a cue's first output starts its trial."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from bci_stream.core.card import ScoringSpec
from bci_stream.service.scoring import RESET_GRACE_S, LiveScorer, ScoringConfig, scoring_config

LABELS = ["rest", "left", "right"]
SFREQ = 100.0
T0 = 1000.0


def reset_after_cue(config: ScoringConfig, after: int) -> dict:
    """Outputs always ``left``; a cue ``L`` at sample 100 and an API reset ``after`` samples later: the score."""
    scorer = LiveScorer(config, LABELS, SFREQ)
    y = np.tile(np.array([[0.1, 0.8, 0.1]], dtype=np.float32), (5, 1))
    epoch = 0
    for i in range(0, 600, 5):
        if i == 100 + after:
            epoch += 1
            scorer.epoch_started(epoch, i)
        if i == 100:
            scorer.marker("L", T0 + i / SFREQ)
        scorer.outputs(T0 + np.arange(i, i + 5) / SFREQ, y, epoch, np.arange(i, i + 5))
    return scorer.describe()


def test_a_longer_grace_scores_a_reset_the_default_counts_as_interrupting():
    late = 40  # 0.4 s after the cue: past the default 0.2 s
    default = reset_after_cue(ScoringConfig({"L": "left"}, 2.0, "test"), late)
    assert (default["trials"], default["interrupted"], default["reset_at_start"]) == (0, 1, 0)
    assert default["reset_grace_s"] == RESET_GRACE_S == 0.2
    longer = reset_after_cue(ScoringConfig({"L": "left"}, 2.0, "test", reset_grace_s=0.5), late)
    assert (longer["trials"], longer["correct"], longer["interrupted"], longer["reset_at_start"]) == (1, 1, 0, 1)
    assert longer["reset_grace_s"] == 0.5 and longer["last"][0]["reset_after_s"] == 0.4
    none = reset_after_cue(ScoringConfig({"L": "left"}, 2.0, "test", reset_grace_s=0.0), 5)  # 0: not even 5 samples
    assert (none["trials"], none["interrupted"], none["reset_at_start"]) == (0, 1, 0)


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf])
def test_a_grace_that_is_not_a_finite_number_of_seconds_at_least_0_is_refused(bad: float):
    with pytest.raises(ValueError, match=r"reset_grace_s \(options.markers.reset_grace_s\) must be a finite number "
                                         r"of seconds >= 0, got " + str(bad)):
        LiveScorer(ScoringConfig({"L": "left"}, 2.0, "test", reset_grace_s=bad), LABELS, SFREQ)


def test_the_scoring_config_takes_the_decoders_option_for_every_map_source():
    """``options.markers.reset_grace_s`` reaches the scorer whichever map is used (options or the card's)."""
    from bci_stream.core.registry import ModelRegistry
    from support.common import REPO

    card = ModelRegistry(REPO / "models").get("eegmmidb-s001").card
    scored = card.model_copy(update={"scoring": ScoringSpec(marker_map={"1": "fists"}, decision_time_s=1.0)})
    for marker_map, model in (({"1": "fists"}, card), (None, scored), (None, card)):
        options = SimpleNamespace(marker_map=marker_map, decision_time_s=None, reset_grace_s=0.35)
        config, why = scoring_config(model, options)  # type: ignore[arg-type]  # MarkerOptions' fields
        assert why is None and config is not None and config.reset_grace_s == 0.35, (marker_map, why)
        assert LiveScorer(config, list(model.output.labels), SFREQ).grace_n == 35


def test_the_option_is_validated_and_reaches_the_scorer():
    """``options.markers.reset_grace_s``: default the scorer's, refused (naming it, the rule, the value) when
    negative, not finite or over 60 s, and the scorer built from the options (as a worker builds it) uses it."""
    from pydantic import ValidationError

    from bci_stream.core.spec import DecoderSpec, MarkerOptions
    from bci_stream.service.scoring_swap import ScorerSetup, make_scorer

    assert MarkerOptions().reset_grace_s == RESET_GRACE_S
    for bad, rule in ((-0.5, "greater than or equal to 0"), (float("nan"), "finite number"),
                      # 1e308 was taken, then ended the worker (overflow)
                      (float("inf"), "finite number"), (1e308, "less than or equal to 60")):
        body = {"stream": {"name": "x"}, "model": "m", "options": {"markers": {"reset_grace_s": bad}}}
        with pytest.raises(ValidationError) as info:
            DecoderSpec.model_validate(body)
        [error] = info.value.errors()
        assert error["loc"] == ("options", "markers", "reset_grace_s") and rule in error["msg"], error
        assert str(error["input"]) == str(bad)
    from bci_stream.core.registry import ModelRegistry
    from support.common import REPO

    card = ModelRegistry(REPO / "models").get("eegmmidb-s001").card
    scorer, why = make_scorer(ScorerSetup(MarkerOptions(reset_grace_s=0.5), SFREQ, 0.5), card)
    assert why is None and scorer is not None and scorer.describe()["reset_grace_s"] == 0.5 and scorer.grace_n == 50
