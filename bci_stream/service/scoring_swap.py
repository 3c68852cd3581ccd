"""Which model's marker map live scoring uses: the running model's, from the start, after a hot swap and after a
worker restart alike.

A worker builds its scorer from the card of the model it runs (:func:`make_scorer`): ``options.markers.marker_map``
when given (the same for every model: a swap keeps the output labels), else the card's ``scoring`` or
``training.label_map`` (:func:`~bci_stream.service.scoring.scoring_config`). A hot swap changes the running model
without a restart, so the scoring follows it at the swap's finish (:func:`follow_swap`), as a restarted worker
takes the swapped-in model's card: a model calibrated with other marker codes (``calibrate --labels``) is scored by
its own codes, and the follower's ``zero`` rule (a numeric 0 is the marker ``"0"`` when the map names it) follows
the same map. The score starts anew under the new model (status ``scoring.previous`` keeps the last model's,
``scoring.before_previous`` those of the models before it, oldest first):
one accuracy never mixes two models. The cues whose first output came before the swap are counted ``interrupted``
in ``previous`` (a swap between cue and decision interrupts a trial in any case); a cue whose samples were not
decoded yet is scored by the new model, with the new map; a marker received after the swap for a cue decided
before it is ``interrupted`` (the model that decided it is gone). The outputs kept for late markers are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bci_stream.core.card import ModelCard
from bci_stream.core.spec import MarkerOptions
from bci_stream.service.scoring import LiveScorer, ScoringError, scoring_config

#: What ``scoring.previous`` keeps of the score under the model before the last swap.
PREVIOUS_KEYS = ("model", "source", "marker_map", "decision_time_s", "trials", "correct", "accuracy", "ci95",
                 "per_class", "missed", "interrupted", "reset_at_start", "markers_received", "markers_mapped",
                 "markers_unmapped", "markers_repeated")


#: Scores of the models before ``previous`` that ``scoring.before_previous`` keeps (oldest first), after several swaps.
MAX_BEFORE_PREVIOUS = 16


@dataclass(frozen=True)
class ScorerSetup:
    """What a scorer is built with besides the card: the decoder's marker options, the stream's nominal rate
    and the largest lag of a cue's first output (``gap_threshold_s``)."""

    options: MarkerOptions
    sfreq: float
    max_lag_s: float
    burst_s: float = 0.0  # the decoder's max_buffer_s: outputs kept for a burst of held-up samples (LiveScorer)


def make_scorer(setup: ScorerSetup, card: ModelCard) -> tuple[LiveScorer | None, str | None]:
    """The scorer of ``card``'s outputs, or ``(None, why scoring is off)``.

    Raises
    ------
    ScoringError
        ``options.marker_map`` does not fit the model (see :func:`~bci_stream.service.scoring.scoring_config`).
    """
    config, why_off = scoring_config(card, setup.options)
    if config is None:
        return None, why_off
    opts = setup.options
    return LiveScorer(config, list(card.output.labels), setup.sfreq, history_s=opts.history_s,
                      keep_trials=opts.keep_trials, max_lag_s=setup.max_lag_s, burst_s=setup.burst_s), None


#: The scores a swap keeps, ``(previous, before_previous)`` (:func:`follow_swap`): the scorer holds them, and while a
#: swapped-in model's scoring is off the worker does (:class:`~bci_stream.service.markers.MarkerHub`).
Kept = tuple[dict[str, Any] | None, list[dict[str, Any]]]
NOTHING_KEPT: Kept = (None, [])


def follow_swap(old: LiveScorer | None, setup: ScorerSetup, card: ModelCard, epoch: int,
                kept: Kept = NOTHING_KEPT) -> tuple[LiveScorer | None, str | None, Kept]:
    """The scorer after a hot swap to ``card`` whose state epoch ``epoch`` starts now (module docstring), why scoring
    is off (None: it is on) and the earlier scores it keeps; ``old`` is the scorer before it (None: scoring was off,
    ``kept`` the scores kept then). A swap through a model whose scoring is off keeps them (review s52rev F8)."""
    try:
        new, why_off = make_scorer(setup, card)
    except ScoringError as exc:  # the API checked options.marker_map against the labels, which a swap keeps
        new, why_off = None, str(exc)
    if old is None:
        if new is not None:
            new.previous, new.before_previous = kept[0], list(kept[1])
        return new, why_off, kept
    if new is not None:
        new.since_epoch = epoch
        new.adopt_history(old)
    anchored = 0
    for cue in old.pending:
        t_cue, value, _, anchor = cue
        if anchor != -1:  # its first output came from the model before the swap
            anchored += 1
        elif new is not None and (k := new.class_of.get(value)) is not None:
            new.pending.append([t_cue, value, k, -1])
    old.interrupted += anchored
    old.pending = []
    summary = old.describe()
    previous = {k: summary[k] for k in PREVIOUS_KEYS}
    # every earlier model's score stays (the latest MAX_BEFORE_PREVIOUS)
    before = [*old.before_previous, *([old.previous] if old.previous is not None else [])][-MAX_BEFORE_PREVIOUS:]
    if new is not None:
        new.previous, new.before_previous = previous, before
    return new, why_off, (previous, before)
