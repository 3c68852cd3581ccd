"""The chance check of a decoder that ``calibrate --no-average`` picked among candidates accounts for the choice.

Units (:mod:`bci_stream.train.classical.selection_nested`, :func:`.calibration_report.chance_check`) on real EEG
(tests/data: S001 R05/R06/R09, 21 channels): the inner folds mirror calibrate's folds on an outer fold's training
trials and never hold its test trials; with nothing to choose, the nested figure is the plain CV; a pick is checked
on the nested CV (or, for the residual GRU, against the Bonferroni threshold for every decoder compared), and the
warning says among how many it was picked.
"""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.train.classical.calibration import candidates, chance_threshold
from bci_stream.train.classical.calibration_inputs import load_calibration
from bci_stream.train.classical.calibration_report import chance_check, selection_line
from bci_stream.train.classical.cv import cross_validate, make_folds
from bci_stream.train.classical.prepared import all_trials
from bci_stream.train.classical.configs import config_label
from bci_stream.train.classical.selection import RULE_TIMES, best_index
from bci_stream.train.classical.selection_nested import NestedResult, inner_folds, nested_selection, pick_selection
from support.common import SUBSET_S001_21CH, subset_file
from support.marked import FAST_CHANNELS

RUNS = [SUBSET_S001_21CH / f"S001R{r}.edf" for r in ("05", "06", "09")]
FISTS_FEET = {"T1": "fists", "T2": "feet"}
CHANCE = {"uniform": 0.5, "majority_class": 23 / 45, "binomial_95_threshold": chance_threshold(45, 23 / 45)}


@pytest.fixture(scope="module")
def prep():
    return load_calibration([subset_file(p) for p in RUNS], FISTS_FEET, channels=FAST_CHANNELS, progress=False)


def _pairs(sel) -> set[tuple[int, int]]:
    return {(ri, int(t)) for ri, tr in sel for t in tr}


def test_inner_folds_are_calibrates_folds_on_the_training_trials_alone(prep) -> None:
    folds, scheme = make_folds(prep)
    assert scheme == "leave-one-run-out over 3 runs"
    for j, outer in enumerate(folds):
        inner = inner_folds(prep, outer.train)
        train = _pairs(outer.train)
        # leave-one-run-out over the two training runs: each tested once, the held-out run never touched
        assert sorted(ri for f in inner for ri, _ in f.test) == sorted(ri for ri, _ in outer.train)
        for f in inner:
            assert _pairs(f.train) | _pairs(f.test) == train and not _pairs(f.train) & _pairs(f.test)
            assert j not in {ri for ri, _ in f.train + f.test}
    # one run left for training (a two-run calibration's outer fold): trial-wise stratified folds within it
    one = all_trials(prep, [1])
    inner = inner_folds(prep, one)
    assert len(inner) == 5
    assert sorted(p for f in inner for p in _pairs(f.test)) == sorted(_pairs(one))
    for f in inner:
        assert {ri for ri, _ in f.train + f.test} == {1} and not _pairs(f.train) & _pairs(f.test)
        classes = np.concatenate([prep.runs[ri].trials.classes[tr] for ri, tr in f.train])
        assert set(classes) == {0, 1}


def test_with_nothing_to_choose_the_nested_figure_is_the_plain_cv(prep) -> None:
    folds, _ = make_folds(prep)
    cfg = candidates(prep, "csp_lda", True)[0]
    cv = cross_validate(prep, cfg, folds, RULE_TIMES)
    nested = nested_selection(prep, folds, {"csp_lda": [cfg]}, {"csp_lda": [cv]}, lambda cvs: "csp_lda", None, "acc2")
    assert (nested.n_correct, nested.n_trials) == (cv.n_correct[2.0], cv.n_trials)
    assert nested.n_compared == 1 and [p["fold"] for p in nested.picks] == [0, 1, 2]
    assert sum(p["n_correct"] for p in nested.picks) == nested.n_correct


def test_the_pick_is_made_on_inner_folds_only(prep) -> None:
    """Each outer fold's pick is the candidate its inner CV (the training runs alone) prefers, and that fold's
    test trials are decided by that candidate's own held-out outputs."""
    folds, _ = make_folds(prep)
    cands = [candidates(prep, "csp_lda", True)[0], candidates(prep, "csp_lda", True)[1]]
    cvs = [cross_validate(prep, c, folds, RULE_TIMES) for c in cands]
    nested = nested_selection(prep, folds, {"csp_lda": cands}, {"csp_lda": cvs}, lambda _: "csp_lda", None, "acc2")
    assert nested.n_compared == 2 and len(nested.picks) == 3
    total = 0
    for j, p in enumerate(nested.picks):
        inner = inner_folds(prep, folds[j].train)
        i = best_index([cross_validate(prep, c, inner, RULE_TIMES) for c in cands], "acc2")
        assert p["config"] == config_label(cands[i])
        start = sum(cvs[i].fold_sizes[:j])
        rows = slice(start, start + cvs[i].fold_sizes[j])
        hit = int((cvs[i].probs[rows, RULE_TIMES.index(2.0)].argmax(-1) == cvs[i].classes[rows]).sum())
        assert p["n_correct"] == hit
        total += hit
    assert nested.n_correct == total


def test_a_classical_pick_is_checked_on_the_nested_cv() -> None:
    nested = NestedResult(n_correct=28, n_trials=45, n_compared=17, picks=[{"fold": 0}])  # 29 of 45 is significant
    sel = pick_selection(nested, 33 / 45, [0.59, 0.84], False, 45, 23 / 45)
    assert sel["method"] == "nested_cv" and sel["n_compared"] == 17 and sel["acc"] == pytest.approx(28 / 45)
    check = chance_check(sel.pop("acc"), sel.pop("ci95"), CHANCE, "csp_riemann", 2.0, sel)
    assert check["threshold"] == CHANCE["binomial_95_threshold"] and check["above_threshold"] is False
    assert "picked among 17 decoders on the same CV folds" in check["warning"]
    assert "its own CV accuracy 0.733 is optimistic" in check["warning"]
    assert "nested CV accuracy at 2 s is 0.622" in check["warning"]
    assert check["selection"]["picked_cv_acc"] == pytest.approx(33 / 45) and "picks" not in check["selection"]
    line = selection_line(check)
    assert line.startswith("chance check: the shipped decoder was picked among 17 decoders")
    assert "BELOW the threshold" in line
    # the same figure without a pick: the single-test check, unchanged, and no selection line
    plain = chance_check(33 / 45, [0.59, 0.84], CHANCE, "csp_riemann", 2.0)
    assert plain["above_threshold"] is True and plain["warning"] is None and "selection" not in plain
    assert selection_line(plain) is None


def test_a_nested_figure_above_the_picks_own_is_not_called_optimistic() -> None:
    """Audit s64cal F4: a pick's own CV 17/30 beside a nested CV 19/30 was called "optimistic" as a fact."""
    nested = NestedResult(n_correct=19, n_trials=30, n_compared=17, picks=[{"fold": 0}])
    sel = pick_selection(nested, 17 / 30, [0.39, 0.73], False, 30, 16 / 30)
    check = chance_check(sel.pop("acc"), sel.pop("ci95"), CHANCE, "riemann", 2.0, sel)
    said = "its own CV accuracy 0.567 is optimistic on average, though here not above the nested figure 0.633"
    assert said in check["warning"] and said in selection_line(check), check["warning"]


def test_bonferroni_threshold_for_a_shipped_gru() -> None:
    single = chance_threshold(45, 23 / 45)
    corrected = chance_threshold(45, 23 / 45, 0.05 / 18)
    assert (single, corrected) == (29 / 45, 33 / 45)  # 0.644 -> 0.733: 18 decoders compared
    nested = NestedResult(n_correct=30, n_trials=45, n_compared=17)
    sel = pick_selection(nested, 32 / 45, [0.57, 0.83], True, 45, 23 / 45)
    assert sel["method"] == "bonferroni" and sel["n_compared"] == 18 and sel["threshold"] == corrected
    check = chance_check(sel.pop("acc"), sel.pop("ci95"), CHANCE, "csp_gru", 2.0, sel)
    assert check["acc"] == pytest.approx(32 / 45) and check["above_threshold"] is False  # one trial short of 33
    assert "p < 0.05/18 (Bonferroni" in check["warning"]
    sel = pick_selection(nested, 33 / 45, [0.59, 0.84], True, 45, 23 / 45)  # 33 of 45: significant, as defined
    check = chance_check(sel.pop("acc"), sel.pop("ci95"), CHANCE, "csp_gru", 2.0, sel)
    assert check["above_threshold"] is True and check["warning"] is None


def test_an_accuracy_at_the_threshold_beats_chance() -> None:
    """Audit s44b: 12 of 15 against a majority class of 8/15 (P(X >= 12) = 0.032) is the binomial threshold itself,
    the smallest significant accuracy, and was said "not shown to beat chance" (``acc > thr``); 11 of 15 is not."""
    chance = {"uniform": 0.5, "majority_class": 8 / 15, "binomial_95_threshold": chance_threshold(15, 8 / 15)}
    assert chance["binomial_95_threshold"] == 12 / 15
    at = chance_check(12 / 15, [0.55, 0.93], chance, "ensemble", 2.0)
    assert at["above_threshold"] is True and at["warning"] is None
    short = chance_check(11 / 15, [0.48, 0.89], chance, "ensemble", 2.0)
    assert short["above_threshold"] is False and "below the binomial 95% threshold 0.80" in short["warning"]
