"""The filter-bank CSP study (:mod:`bci_stream.train.classical.fbcsp_study`) on real EEG (tests/data, S001 R05/R06).

Its fit and prediction reuse the CSP+LDA family's pieces per band, so a bank of one band with the family's
filter count must be that family; a real bank must give one probability per class, causally; and the gate
must follow the rule written in the module (margin and no subject reversing it).
"""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.train.classical.configs import DEFAULT_CSP

pytest.importorskip("sklearn", reason="the study fits with scikit-learn (train extra)")

from bci_stream.train.classical.cv import cross_validate, make_folds  # noqa: E402
from bci_stream.train.classical.fbcsp_study import (  # noqa: E402
    GATE_TRIALS, FbcspConfig, fit_fbcsp, gate, predict_fbcsp,
)
from support.train_data import s001_calibration  # noqa: E402


@pytest.fixture(scope="module")
def prep():
    return s001_calibration()


def test_a_bank_of_one_band_is_the_csp_lda_family(prep):
    folds, _ = make_folds(prep)
    one = FbcspConfig(bands=(tuple(DEFAULT_CSP.band),), per_band=DEFAULT_CSP.n_components)
    bank = cross_validate(prep, one, folds, fit_fn=fit_fbcsp, predict_fn=predict_fbcsp)
    family = cross_validate(prep, DEFAULT_CSP, folds)
    np.testing.assert_allclose(bank.probs, family.probs, atol=1e-9)


def test_the_bank_outputs_probabilities_causally(prep):
    sel = [(0, np.arange(len(prep.runs[0].trials)))]
    params = fit_fbcsp(prep, sel, FbcspConfig())
    assert len(params.filters) == 9 and params.coef.shape == (2, 36)
    at = np.array([100, 2000, 6000])
    p = predict_fbcsp(prep, params, FbcspConfig(), 1, at)
    assert p.shape == (3, 2) and np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    # causal: the output at a sample does not change when later samples are not computed
    np.testing.assert_allclose(predict_fbcsp(prep, params, FbcspConfig(), 1, at[:1]), p[:1], atol=1e-12)


def test_gate_needs_the_margin_and_no_subject_reversing_it():
    def row(unit, f, c, r):
        return {"unit": unit, "n_trials": 60, "correct": {"fbcsp": {"2": f}, "csp_lda": {"2": c}, "riemann": {"2": r}}}

    ok = gate([row("S001", 50, 45, 44), row("S002", 50, 48, 49)])
    assert ok["margin"] == 7 and ok["passes"] and GATE_TRIALS <= 7
    # a subject's tasks count together: behind on S001-LR, ahead on S001, ahead in sum
    mixed = gate([row("S001", 50, 40, 40), row("S001-LR", 30, 35, 35), row("S002", 60, 50, 50)])
    assert mixed["per_subject"]["S001"] == {"fbcsp": 80, "csp_lda": 75, "riemann": 75} and mixed["passes"]
    lost = gate([row("S001", 60, 40, 40), row("S002", 40, 45, 41)])
    assert lost["subjects_where_fbcsp_loses"] == ["S002"] and not lost["passes"]
