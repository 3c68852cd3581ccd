"""The epoch reference's CV on its training trials: with 2 trials of a class a fold leaves 1 per class, too few to
fit LDA; sklearn warned ("1 fits failed out of a total of 2", seen in every test run) and the CV accuracy was NaN.
Now no CV is reported then; from 3 a class it is, with its number of folds (the report said "5-fold" always)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from bci_stream.train.evaluate.baseline import _fit_and_score  # noqa: E402


def scored(per_class: int) -> dict:
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], per_class)
    x = rng.standard_normal((len(y), 2)) + 3.0 * y[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn's FitFailedWarning included
        return _fit_and_score(LinearDiscriminantAnalysis, x, y, x, y, (8.0, 30.0), (0.5, 2.5), 0)


def test_two_trials_a_class_report_no_cv():
    out = scored(2)
    assert "train_cv_accuracy" not in out and out["test_accuracy"] is not None


@pytest.mark.parametrize(("per_class", "folds"), [(3, 3), (4, 4), (9, 5)])
def test_from_three_a_class_the_cv_and_its_folds_are_reported(per_class, folds):
    out = scored(per_class)
    assert out["train_cv_folds"] == folds and not math.isnan(out["train_cv_accuracy"])


@pytest.mark.parametrize(("per_class", "says"), [(2, "(no CV on those: fewer than 3 trials of a class)"),
                                                 (4, "(4-fold CV on those: ")])
def test_the_report_says_how_many_folds_or_that_there_was_no_cv(per_class, says):
    """Review s39 D4: the report said '5-fold CV on those: –' where no CV ran."""
    from bci_stream.train.evaluate.report import markdown

    csp = scored(per_class) | {"n_components": 4}
    test = {"sample_accuracy": 0.5, "trial_class_sample_accuracy": 0.5, "n_trials": 4, "chance_trial_accuracy": 0.5,
            "trial_accuracy": {"2.5s": {"instant": 0.5, "mean": 0.5}}}
    text = markdown({"run": "r", "models": {"m": {"causal": True, "test": test}}, "csp_lda": csp})
    assert says in text and "5-fold" not in text
