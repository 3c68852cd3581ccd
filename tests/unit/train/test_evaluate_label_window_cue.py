"""Offline ``evaluate`` of a train-made model whose card has ``data.label_window = [start_s, stop_s]`` decides each
trial at cue + t, as the service's live scorer and ``calibrate`` do, and leaves out a trial whose span from the cue
(cue to cue + the latest time) overlaps a mark (review s20 #3: it decided at cue + start_s + t, and a mark in
``[cue, cue + start_s)`` was not seen). Also the rule itself, on synthetic outputs whose only right answer is at one
sample, with a label window starting after the cue and one starting before it, and the epoch references' epochs.

Data: real EEG, S001 R06 of ``tests/data/eegmmidb/S001-21ch`` (EDF; and rewritten as FIF with a ``BAD_`` mark); the
bundled ``eegmmidb-s001-gru`` model, its card copied with the label window set.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io.labels import labels_from_events, window_lead
from bci_stream.io.recording import Event
from bci_stream.train.evaluate.metrics import evaluate_probs, find_trials
from support.common import REPO, subset_file
from support.marked import LABELS, R06, SFREQ, cues, marked_fif

MODEL = "eegmmidb-s001-gru"
WINDOW = [0.5, 4.0]
TIMES = (0.5, 1.0, 2.0, 3.0)


@pytest.fixture(scope="module")
def windowed(tmp_path_factory) -> Path:
    """A copy of the bundled model whose card says it was trained with ``data.label_window = [0.5, 4.0]``."""
    folder = tmp_path_factory.mktemp("models") / MODEL
    shutil.copytree(REPO / "models" / MODEL, folder)
    card = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    card["training"]["config"]["data"]["label_window"] = WINDOW
    (folder / "model.json").write_text(json.dumps(card, indent=1), encoding="utf-8")
    return folder


def _at_cue(probs: np.ndarray, trials: list[tuple[int, int]], ids: list[int], n: int, mode: str) -> float:
    """Accuracy of ``trials`` ((cue, class id)) decided at cue + n (instant) or over [cue, cue + n] (mean)."""
    right = [ids[int(np.argmax(probs[c + n, ids] if mode == "instant" else probs[c:c + n + 1, ids].mean(0)))] == k
             for c, k in trials if c + n < len(probs)]
    return float(np.mean(right))


def test_offline_evaluate_decides_at_cue_plus_t_under_the_cards_label_window(windowed: Path) -> None:
    from bci_stream.core.registry import open_model_folder
    from bci_stream.engine.offline import decode_offline
    from bci_stream.train.evaluate.inputs import load_for_model
    from bci_stream.train.evaluate.offline import evaluate_target

    res = evaluate_target(str(windowed), [subset_file(R06)], label_map=LABELS, times_s=TIMES)
    entry = open_model_folder(windowed)
    outputs = list(entry.card.output.labels)
    d = load_for_model(subset_file(R06), LABELS, list(entry.card.ch_names), label_window=WINDOW, sfreq=SFREQ)
    probs = decode_offline(entry, d.x)
    ids = [outputs.index(c) for c in ("fists", "feet")]
    at_cue = [(k, outputs.index(c)) for k, c in cues(R06)]
    lead = int(round(WINDOW[0] * SFREQ))
    assert d.lead == lead == 80 and [t.cue for t in find_trials(d.labels, [0, 1], d.lead)] == [k for k, _ in at_cue]
    m = res["metrics"]
    assert m["n_trials"] == len(at_cue)
    later = [(k + lead, c) for k, c in at_cue]  # the old reading: the label's start + t
    differs = []
    for t in TIMES:
        n = int(round(t * SFREQ))
        for mode in ("instant", "mean"):
            assert m["trial_accuracy"][f"{t:g}s"][mode] == _at_cue(probs, at_cue, ids, n, mode), (t, mode)
            differs.append(_at_cue(probs, at_cue, ids, n, mode) != _at_cue(probs, later, ids, n, mode))
    for i, t in enumerate(m["curve"]["t_s"]):
        n = int(round(t * SFREQ))
        for mode in ("instant", "mean"):
            assert m["curve"][mode][i] == _at_cue(probs, at_cue, ids, n, mode), (t, mode)
    assert any(differs)  # the two readings give other figures on these data


def test_a_mark_between_the_cue_and_the_label_window_leaves_the_trial_out(windowed: Path, tmp_path: Path) -> None:
    from bci_stream.train.evaluate.offline import evaluate_target

    cue = cues(R06)[1][0]
    path = marked_fif(tmp_path / "r06_raw.fif", src=R06, extra=[(cue / SFREQ + 0.1, 0.1, "BAD_movement")])
    res = evaluate_target(str(windowed), [path], label_map=LABELS, times_s=TIMES)
    assert cues(R06)[1][1] == "fists"
    assert res["trials_left_out"] == [{"file": "r06_raw.fif", "n": 1, "by_reason": {"BAD_movement": {"fists": 1}}}]
    assert res["metrics"]["n_trials"] == len(cues(R06)) - 1


@pytest.mark.parametrize("window", [(0.5, 4.0), (-0.25, 2.0)])
def test_the_instant_rule_reads_cue_plus_t_for_a_window_after_or_before_the_cue(window) -> None:
    sfreq, n = 100.0, 50  # t = 0.5 s
    events = [Event(100, 0, "a"), Event(700, 0, "b"), Event(1300, 0, "a")]
    labels, names = labels_from_events(events, 2000, sfreq, {"a": "A", "b": "B"}, label_window=window)
    lead = window_lead(window, sfreq)
    trials = [(e.onset, names.index({"a": "A", "b": "B"}[e.description])) for e in events]
    probs = np.zeros((2000, 2))
    for k in (0, 1):  # everywhere in a trial's label: the other class
        probs[labels == k, 1 - k] = 1.0
    probs[labels < 0] = [0.5, 0.5]
    for cue, k in trials:  # the right class only at cue + t
        probs[cue + n] = np.eye(2)[k]
    m = evaluate_probs([probs], [labels], names, names, sfreq, (0.5,), lead=lead)
    assert m["trial_accuracy"]["0.5s"]["instant"] == 1.0 and m["trial_accuracy"]["0.5s"]["n_trials"] == 3
    assert [t.cue for t in find_trials(labels, [0, 1], lead)] == [c for c, _ in trials]


def test_the_epoch_references_cut_their_epochs_from_the_cue() -> None:
    import mne

    from bci_stream.train.evaluate.baseline import epochs

    sfreq, window, band = 100.0, (0.5, 1.5), (8.0, 30.0)
    raw = np.random.default_rng(0).standard_normal((3, 3000))
    events = [Event(400, 0, "a"), Event(1400, 0, "b")]
    labels, names = labels_from_events(events, 3000, sfreq, {"a": "A", "b": "B"}, label_window=(1.0, 4.0))
    x, y = epochs(raw, labels, [0, 1], sfreq, band, window, window_lead((1.0, 4.0), sfreq))
    filtered = mne.filter.filter_data(raw, sfreq, *band, verbose="error")
    assert y.tolist() == [0, 1]
    assert np.array_equal(x, np.stack([filtered[:, c + 50:c + 150] for c in (400, 1400)]))


def test_the_live_tables_trials_are_decided_at_the_cues(windowed: Path) -> None:
    """``evaluate --live`` reads the card's window as offline does; its per-trial table starts each trial at its cue
    and decides at cue + t (the reviewer's repro: onsets [752, 4736, 7392] for the cues [672, 4656, 7312])."""
    from bci_stream.core.registry import open_model_folder
    from bci_stream.engine.offline import decode_offline
    from bci_stream.train.evaluate.live_trials import decisions, load_streamed

    entry = open_model_folder(windowed)
    outputs = list(entry.card.output.labels)
    d = load_streamed(subset_file(R06), LABELS, entry.card, {}, None, "--data")
    probs = decode_offline(entry, d["x"]).astype(np.float64)
    ids = [outputs.index(c) for c in ("fists", "feet")]
    rows = decisions(probs, find_trials(d["labels"], ids, d["lead"]), ids, outputs, SFREQ, TIMES)
    assert d["lead"] == 80 and [r["onset"] for r in rows] == [k for k, _ in cues(R06)]
    for r in rows:
        for t in TIMES:
            at = r["onset"] + int(round(t * SFREQ))
            assert r["decisions"][f"{t:g}s"] == outputs[ids[int(np.argmax(probs[at, ids]))]], (r["onset"], t)


def test_a_window_starting_before_the_cue_checks_marks_up_to_cue_plus_the_latest_time(tmp_path: Path) -> None:
    """``label_window = [-0.5, 3.5]``: a trial's span runs from its label's start to cue + 3 s (the latest time); a
    mark at cue + 2.8 s leaves it out (before: the span ran from the label's start, cue - 0.5 s, to cue + 2.5 s)."""
    from bci_stream.train.evaluate.offline import evaluate_target

    folder = tmp_path / "models" / MODEL
    shutil.copytree(REPO / "models" / MODEL, folder)
    card = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    card["training"]["config"]["data"]["label_window"] = [-0.5, 3.5]
    (folder / "model.json").write_text(json.dumps(card, indent=1), encoding="utf-8")
    cue = cues(R06)[1][0]
    path = marked_fif(tmp_path / "r06_raw.fif", src=R06, extra=[(cue / SFREQ + 2.8, 0.1, "BAD_movement")])
    res = evaluate_target(str(folder), [path], label_map=LABELS, times_s=TIMES)
    assert res["trials_left_out"] == [{"file": "r06_raw.fif", "n": 1, "by_reason": {"BAD_movement": {"fists": 1}}}]
    assert res["metrics"]["n_trials"] == len(cues(R06)) - 1


def test_the_csp_initialisation_takes_its_windows_from_the_cue() -> None:
    """``model.spatial_init = 'csp'`` under a label window: the filters of labels from cue + 1 s (lead 100) are those
    of labels from the cue itself (the same windows, ``evaluation.csp_window_s`` after each cue)."""
    from bci_stream.train.evaluate.baseline import csp_filters

    sfreq = 100.0
    x = np.random.default_rng(1).standard_normal((4, 6000))
    events = [Event(300 + 600 * i, 0, "ab"[i % 2]) for i in range(9)]

    def labels(window: tuple[float, float]) -> np.ndarray:
        return labels_from_events(events, 6000, sfreq, {"a": "A", "b": "B"}, label_window=window)[0]

    at_cue = csp_filters([(x, labels((0.0, 3.0)))], sfreq, [0, 1], 2)
    later = csp_filters([(x, labels((1.0, 4.0)))], sfreq, [0, 1], 2, lead=window_lead((1.0, 4.0), sfreq))
    assert np.array_equal(at_cue, later)
    assert not np.allclose(at_cue, csp_filters([(x, labels((1.0, 4.0)))], sfreq, [0, 1], 2))  # windows 1 s later
