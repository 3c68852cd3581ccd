"""The boxcar-window study (:mod:`bci_stream.train.classical.window_study`) on real EEG (tests/data, S001 R05/R06).

The boxcar mean and covariance are checked against direct sums (rows before a run's start count as the
initial state); a fit gives each family's parameters and causal probabilities; the window is chosen on the other
subjects' units only, and the gate follows its rule.
"""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.train.classical.configs import DEFAULT_CSP, DEFAULT_RIEMANN

pytest.importorskip("sklearn", reason="the study fits with scikit-learn (train extra)")

from bci_stream.train.classical import window_study as ws  # noqa: E402
from bci_stream.train.classical.params import CspLdaParams, RiemannParams  # noqa: E402
from support.train_data import s001_calibration  # noqa: E402


@pytest.fixture(scope="module")
def prep():
    return s001_calibration()


def test_boxcar_mean_and_covariance_are_the_direct_sums():
    rng = np.random.default_rng(0)
    v, n, init = rng.standard_normal((60, 3)), 9, np.diag([2.0, 3.0, 4.0])
    mean = ws.boxcar_mean(v ** 2, n, np.diag(init))
    np.testing.assert_allclose(mean[30], (v[22:31] ** 2).mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(mean[4], ((v[:5] ** 2).sum(axis=0) + 4 * np.diag(init)) / n, atol=1e-12)
    at = np.array([4, 30, 59])
    cov = ws._covs_at(v, n, init, at)
    np.testing.assert_allclose(cov[1], v[22:31].T @ v[22:31] / n, atol=1e-12)
    np.testing.assert_allclose(cov[0], (v[:5].T @ v[:5] + 4 * init) / n, atol=1e-12)
    np.testing.assert_allclose(np.diagonal(cov, axis1=1, axis2=2), mean[at], atol=1e-12)
    with pytest.raises(ValueError, match="n .* must be >= 1, got 0"):
        ws.boxcar_mean(v, 0, np.zeros(3))


@pytest.mark.parametrize("base", [DEFAULT_CSP, DEFAULT_RIEMANN], ids=["csp_lda", "riemann"])
def test_a_fit_gives_the_family_and_causal_probabilities(prep, base):
    sel = [(0, np.arange(len(prep.runs[0].trials)))]
    cfg = ws.WindowConfig(base, 1.5)
    params = ws.fit_window(prep, sel, cfg)
    assert isinstance(params, CspLdaParams if base is DEFAULT_CSP else RiemannParams)
    at = np.array([100, 2000, 5000])
    p = ws.predict_window(prep, params, cfg, 1, at)
    assert p.shape == (3, 2) and np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    # causal: the output at a sample is the same when later samples are not computed
    np.testing.assert_allclose(ws.predict_window(prep, params, cfg, 1, at[:1]), p[:1], atol=1e-12)


def _row(unit: str, exp: int, by_window: dict[float, int]) -> dict:
    correct = {"csp_lda": {"2": exp}, "riemann": {"2": exp}}
    for w in ws.WINDOWS:
        correct[ws.method("csp_lda", w)] = {"2": by_window[w]}
        correct[ws.method("riemann", w)] = {"2": by_window[w]}
    return {"unit": unit, "n_trials": 60, "correct": correct}


def test_the_window_is_chosen_on_the_other_subjects_and_the_gate_follows_its_rule():
    w1, w15, w2 = ws.WINDOWS
    rows = [_row("S001", 40, {w1: 45, w15: 41, w2: 41}),      # S001 likes 1 s, the others longer windows
            _row("S001-LR", 40, {w1: 45, w15: 41, w2: 41}),
            _row("S002", 40, {w1: 41, w15: 52, w2: 41}),
            _row("S004", 40, {w1: 41, w15: 52, w2: 52})]
    # S001 left out: 82 / 104 / 93; S002 left out: 131 / 134 / 134 (tie -> shorter); S004 left out: 131 / 134 / 123
    assert ws.loso_choice(rows, "csp_lda") == {"S001": w15, "S002": w15, "S004": w15}
    g = ws.gate(rows)["csp_lda"]
    assert g["total"]["csp_lda@loso"] == 41 + 41 + 52 + 52 and g["margin"] == 186 - 160 and g["passes"]
    behind = ws.gate([_row("S001", 40, {w1: 30, w15: 30, w2: 30}), _row("S002", 40, {w1: 60, w15: 60, w2: 60})])
    assert behind["riemann"]["losing"] == ["S001"] and not behind["riemann"]["passes"]
