"""The rules calibrate picks candidates and families by (bci_stream.train.classical.selection)."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.train.classical.cv import CvResult
from bci_stream.train.classical.selection import RULE_TIMES, RULES, WINDOW_TIMES, accuracy, best_index, log_likelihood


def _cv(probs_true: np.ndarray, classes: np.ndarray) -> CvResult:
    """A CvResult whose probability of the true class at each time is ``probs_true [N, T]`` (two classes)."""
    n, t = probs_true.shape
    probs = np.empty((n, t, 2))
    probs[np.arange(n), :, classes] = probs_true
    probs[np.arange(n), :, 1 - classes] = 1 - probs_true
    acc = accuracy(probs, classes)
    times = RULE_TIMES
    return CvResult(acc={tm: float(acc[j]) for j, tm in enumerate(times)}, n_trials=n,
                    n_correct={tm: int(round(acc[j] * n)) for j, tm in enumerate(times)},
                    eval_times=times, probs=probs, classes=classes)


def test_accuracy_and_log_likelihood_per_time_column():
    classes = np.array([0, 1, 1, 0])
    p = np.full((4, len(RULE_TIMES)), 0.8)
    p[0] = 0.3  # trial 0 wrong at every time
    cv = _cv(p, classes)
    np.testing.assert_allclose(accuracy(cv.probs, classes), 0.75)
    np.testing.assert_allclose(log_likelihood(cv.probs, classes), (3 * np.log(0.8) + np.log(0.3)) / 4)


def test_window_rule_separates_what_accuracy_at_2s_ties():
    classes = np.array([0, 1] * 5)
    j2 = RULE_TIMES.index(2.0)
    a = np.full((10, len(RULE_TIMES)), 0.9)
    b = a.copy()
    for tm in WINDOW_TIMES:
        if tm != 2.0:
            b[:3, RULE_TIMES.index(tm)] = 0.2  # b is wrong on 3 trials around 2 s, right at 2 s
    assert a[:, j2].tolist() == b[:, j2].tolist()
    ca, cb = _cv(a, classes), _cv(b, classes)
    assert RULES["acc2"](ca)[0] == RULES["acc2"](cb)[0]
    assert best_index([cb, ca], "accwin") == 1
    assert best_index([cb, ca], "nllwin") == 1
    assert best_index([cb, ca], "nll2") == 0  # equal at 2 s: the earlier wins


def test_ties_keep_the_earlier_candidate_and_bad_rules_are_named():
    classes = np.array([0, 1])
    cv = _cv(np.full((2, len(RULE_TIMES)), 0.7), classes)
    assert all(best_index([cv, cv, cv], r) == 0 for r in RULES)
    with pytest.raises(ValueError, match="rule must be one of"):
        best_index([cv], "auc")
    short = CvResult(acc={2.0: 1.0}, n_trials=2, n_correct={2.0: 2}, eval_times=(2.0,),
                     probs=np.full((2, 1, 2), 0.5), classes=classes)
    with pytest.raises(ValueError, match="eval_times must contain"):
        RULES["accwin"](short)


def test_the_nested_study_scores_every_rule_pair_on_the_held_out_run():
    """selection_study.score: each rule picks on the inner CV; the pick's held-out run decides the score."""
    from bci_stream.train.classical.selection_study import score

    classes = np.array([0, 1, 0, 1])
    good, bad = np.full((4, len(RULE_TIMES)), 0.9), np.full((4, len(RULE_TIMES)), 0.1)
    # csp: candidate 0 looks best inside and is right outside; riemann: looks worse inside, wrong outside
    fams = {"csp_lda": [{"inner": _cv(good, classes), "outer": _cv(good, classes)},
                        {"inner": _cv(bad, classes), "outer": _cv(bad, classes)}],
            "riemann": [{"inner": _cv(np.full((4, len(RULE_TIMES)), 0.6), classes), "outer": _cv(bad, classes)}]}
    table = score([{"subject": "S", "outer": [{"held_out_run": 0, "families": fams}]}])
    assert table["cand=acc2 fam=accwin"]["S"] == [4, 4]
    assert table["cand=nll2 fam=only-riemann"]["S"] == [0, 4]
    assert table["cand=acc2 fam=only-csp_lda"]["S"] == [4, 4]
    ens = table["cand=acc2 fam=ensemble"]["S"]  # mean of 0.9 and 0.1 for the true class: a tie, argmax -> class 0
    assert ens == [2, 4]
    assert table["cand=acc2 fam=only-csp_riemann/probmean"]["S"] == ens  # the combined family, probmean
    n_combined = len(RULES) * 2 * (1 + 2 * len(RULES))  # 2 combinations, 2 tie orders
    # averaging every candidate: the true class gets (0.9 + 0.1 + 0.1) / 3 < 0.5 on every trial
    assert table["avg-all"]["S"] == [0, 4] and "avg-family" in table
    assert len(table) == len(RULES) * (len(RULES) + 3) + n_combined + 2


def test_the_combined_family_among_the_options_and_its_tie_order():
    """score_combined: inside, all three families are right on every trial (a tie the order breaks); outside,
    CSP+LDA is right (0.9) and the tangent space badly wrong (0.01), so the combination is wrong."""
    from bci_stream.train.classical.selection_study import score_combined

    classes = np.array([0, 1, 0, 1])
    full = lambda v: _cv(np.full((4, len(RULE_TIMES)), v), classes)  # noqa: E731
    fams = {"csp_lda": [{"inner": full(0.9), "outer": full(0.9)}],
            "riemann": [{"inner": full(0.6), "outer": full(0.01)}]}
    table = score_combined([{"subject": "S", "outer": [{"held_out_run": 0, "families": fams}]}])
    for how in ("logmean", "probmean"):
        assert table[f"cand=acc2 fam=only-csp_riemann/{how}"]["S"] == [0, 4]
        assert table[f"cand=acc2 fam=accwin+csp_riemann/{how} ties=cheap"]["S"] == [4, 4]  # csp_lda first
        assert table[f"cand=acc2 fam=accwin+csp_riemann/{how} ties=combined"]["S"] == [0, 4]  # combined first
        # by the log-likelihood inside, the combination (0.5 * (log .9 + log .6)) is below CSP+LDA's log .9
        assert table[f"cand=acc2 fam=nll2+csp_riemann/{how} ties=combined"]["S"] == [4, 4]


def test_rule_chosen_leave_one_subject_out():
    """selection_study.loso_choice: the rule is picked on the other subjects, scored on the held-out one."""
    from bci_stream.train.classical.selection_study import loso_choice

    table = {"a": {"S1": [9, 10], "S2": [9, 10], "S3": [1, 10]},
             "b": {"S1": [5, 10], "S2": [5, 10], "S3": [10, 10]}}
    res = loso_choice(table)
    # S1 held out: a 10 vs b 15 on S2+S3 -> b; S2 likewise -> b; S3 held out: a 18 vs b 10 -> a
    assert {s: r["key"] for s, r in res["per_subject"].items()} == {"S1": "b", "S2": "b", "S3": "a"}
    assert (res["correct"], res["n"]) == (5 + 5 + 1, 30)


def test_the_nested_inner_folds_are_calibrates_own(tmp_path):
    """selection_study._inner_folds: leave-one-run-out over several inner runs (as before), and calibrate's
    trial-wise folds when one run is left (a unit of two runs, e.g. B2K-1), as selections of the full data."""
    pytest.importorskip("sklearn", reason="trial-wise folds use scikit-learn (train extra)")
    from bci_stream.train.classical.selection_study import _inner_folds
    from bci_stream.train.classical.study import UNIT_FILES, calibration_paths, subject_of
    from support.train_data import s001_calibration

    prep = s001_calibration()  # two runs (R05, R06) of the repository's subset
    lor = _inner_folds(prep, [0, 1])
    assert [[ri for ri, _ in f.test] for f in lor] == [[0], [1]]
    single = _inner_folds(prep, [1])
    assert len(single) >= 2 and all(ri == 1 for f in single for ri, _ in f.train + f.test)
    tested = np.sort(np.concatenate([tr for f in single for _, tr in f.test]))
    np.testing.assert_array_equal(tested, np.arange(len(prep.runs[1].trials)))  # every trial tested once
    for f in single:
        assert not set(f.train[0][1]) & set(f.test[0][1])
    # the BCI2000 unit: its own subject, its files under the data root
    assert subject_of("B2K-1") == "B2K"
    assert calibration_paths("B2K-1", tmp_path) == [tmp_path / f for f in UNIT_FILES["B2K-1"]]
