"""`evaluate --live` labels a train-made model's files as offline `evaluate` does: with the card's
``training.config.data.label_window`` (how `bci-stream train` read events without durations) and its reader options,
so the live table scores the trials offline scores (before, live read every cue with its own duration).

Data: real EEG, S001 R06 of ``tests/data/eegmmidb/S001-21ch`` (EDF); the bundled ``eegmmidb-s001-gru`` card, with a
label window set in a copy.
"""

from __future__ import annotations

import numpy as np

from bci_stream.core.registry import read_card
from bci_stream.train.evaluate.inputs import load_for_model, trainer_reading
from bci_stream.train.evaluate.live_trials import load_streamed
from bci_stream.train.evaluate.metrics import find_trials
from support.common import REPO, subset_file
from support.marked import R06 as R06_NAME
from support.marked import SFREQ, cues

R06 = subset_file(R06_NAME)

CARD = read_card(REPO / "models" / "eegmmidb-s001-gru" / "model.json")
LABELS = {"T1": "fists", "T2": "feet"}


def _windowed(window: list[float]):
    training = dict(CARD.training)
    config = dict(training.get("config") or {})
    config["data"] = {**(config.get("data") or {}), "label_window": window, "reader": {}}
    training["config"] = config
    return CARD.model_copy(update={"training": training})


def test_live_labels_follow_the_cards_label_window() -> None:
    card = _windowed([0.5, 3.0])
    assert trainer_reading(card) == {"label_window": [0.5, 3.0], "reader": {}}
    live = load_streamed(R06, LABELS, card, {}, None, "--data")
    offline = load_for_model(R06, LABELS, list(card.ch_names), label_window=[0.5, 3.0], sfreq=card.sfreq)
    ids = [list(card.output.labels).index(c) for c in ("fists", "feet")]
    onsets = [t.onset for t in find_trials(live["labels"], ids)]
    cue_onsets = [k for k, _ in cues(R06_NAME)]
    assert onsets == [k + int(round(0.5 * SFREQ)) for k in cue_onsets]  # the window's start, as offline reads it
    lut = np.array([list(card.output.labels).index(n) for n in offline.rec.label_names] + [-1])
    assert np.array_equal(live["labels"], lut[offline.labels])
    assert (live["labels"] >= 0).sum() == len(cue_onsets) * int(round(2.5 * SFREQ))


def test_a_card_without_a_train_config_reads_durations() -> None:
    plain = CARD.model_copy(update={"training": {k: v for k, v in CARD.training.items() if k != "config"}})
    assert trainer_reading(plain) == {"label_window": None, "reader": {}}
    live = load_streamed(R06, LABELS, plain, {}, None, "--data")
    ids = [list(plain.output.labels).index(c) for c in ("fists", "feet")]
    assert [t.onset for t in find_trials(live["labels"], ids)] == [k for k, _ in cues(R06_NAME)]
