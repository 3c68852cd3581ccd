"""The output-integration study (:mod:`bci_stream.train.classical.output_study`) on real EEG (tests/data, S001).

The leaky integrator is checked against its recursion; with no integration the study's score is exactly the
averaged decoder's cross-validation (:func:`.ensemble.ensemble_cv` of its members' :func:`.cv.cross_validate`);
``tau_o`` is chosen on the other subjects' units only, and the gate follows its rule.
"""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.train.classical.configs import DECISION_TIME, DEFAULT_CSP, DEFAULT_RIEMANN, EVAL_TIMES

pytest.importorskip("sklearn", reason="the study fits with scikit-learn (train extra)")

from bci_stream.train.classical import output_study as os_  # noqa: E402
from support.train_data import s001_calibration  # noqa: E402


def test_the_integrator_follows_its_recursion_and_is_causal():
    rng = np.random.default_rng(0)
    p = rng.dirichlet([1.0, 1.0, 1.0], size=200)
    assert np.array_equal(os_.integrate(p, 0.0, 160.0), p)
    y = os_.integrate(p, 0.25, 160.0)
    b = np.exp(-1.0 / (0.25 * 160.0))
    prev = np.full(3, 1 / 3)
    for t in range(len(p)):
        prev = b * prev + (1 - b) * p[t]
        np.testing.assert_allclose(y[t], prev, atol=1e-12)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(os_.integrate(p[:50], 0.25, 160.0), y[:50], atol=1e-12)
    with pytest.raises(ValueError, match="tau_o must be >= 0 seconds .* got -1"):
        os_.integrate(p, -1.0, 160.0)


def test_without_integration_the_score_is_the_averaged_decoders_cv():
    from bci_stream.train.classical.cv import cross_validate, make_folds
    from bci_stream.train.classical.ensemble import ensemble_cv

    prep = s001_calibration()
    configs = [DEFAULT_CSP, DEFAULT_RIEMANN]
    n, correct = os_.score_prepared(prep, configs)
    folds, _ = make_folds(prep)
    avg = ensemble_cv([cross_validate(prep, c, folds, EVAL_TIMES) for c in configs])
    assert n == avg.n_trials > 0
    assert correct[os_.method(0.0)] == {f"{t:g}": avg.n_correct[t] for t in EVAL_TIMES}
    assert all(0 <= c[f"{DECISION_TIME:g}"] <= n for c in correct.values())


def _row(unit: str, by_tau: list[int]) -> dict:
    return {"unit": unit, "n_trials": 60, "correct": {os_.method(t): {"2": c} for t, c in zip(os_.TAUS, by_tau)}}


def test_tau_is_chosen_on_the_other_subjects_and_the_gate_follows_its_rule():
    rows = [_row("S001", [40, 50, 41, 41]),      # S001 likes 0.25 s, the others 0.5 s
            _row("S001-LR", [40, 50, 41, 41]),
            _row("S002", [40, 41, 52, 41]),
            _row("S004", [40, 41, 52, 52])]
    # S001 left out: 80 / 82 / 104 / 93 -> 0.5; S002 left out: 120 / 141 / 134 / 134 -> 0.25; S004: 120 / 141 / 134
    assert os_.loso_choice(rows) == {"S001": 0.5, "S002": 0.25, "S004": 0.25}
    g = os_.gate(rows)
    assert g["total"]["loso"] == 41 + 41 + 41 + 41 and g["margin"] == 164 - 160 and not g["passes"]
    tie = [_row("S001", [40, 45, 45, 40]), _row("S002", [40, 45, 45, 40])]
    assert os_.loso_choice(tie) == {"S001": 0.25, "S002": 0.25}  # ties go to the smaller tau_o
    g = os_.gate(tie)
    assert g["margin"] == 10 and g["passes"] and g["fixed"][os_.method(0.0)] == 80
