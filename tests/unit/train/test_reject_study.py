"""The outlier-trial rejection study (:mod:`bci_stream.train.classical.reject_study`) on real EEG (tests/data, S001
R05/R06): the robust-z rule, its class floor, the trial powers it reads, a fit without the rejected trials, and the
gates' rule."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.train.classical.configs import DEFAULT_CSP

pytest.importorskip("sklearn", reason="the study fits with scikit-learn (train extra)")

from bci_stream.train.classical import reject_study as rs  # noqa: E402
from bci_stream.train.classical.params import CspLdaParams  # noqa: E402
from support.train_data import s001_calibration  # noqa: E402


@pytest.fixture(scope="module")
def prep():
    return s001_calibration()


def test_the_rule_drops_robust_outliers_unless_a_class_would_keep_too_few():
    p = np.array([0.0, 0.1, -0.1, 0.05, -0.05, 0.2, -0.2, 0.0, 5.0, 0.1])
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    assert rs.keep_mask(p, y).tolist() == [True] * 8 + [False, True]
    assert rs.keep_mask(p, y, min_per_class=5).all()  # class 1 would keep 4 < 5: nothing goes
    assert rs.keep_mask(np.zeros(10), y).all()  # no spread: nothing goes


def test_powers_follow_the_selection_and_a_fit_leaves_out_the_rejected(prep):
    sel = [(ri, np.arange(len(r.trials))) for ri, r in enumerate(prep.runs)]
    power, classes = rs.trial_log_power(prep, sel, DEFAULT_CSP)
    n = sum(len(r.trials) for r in prep.runs)
    assert power.shape == classes.shape == (n,) and np.all(np.isfinite(power))
    np.testing.assert_array_equal(classes, np.concatenate([r.trials.classes for r in prep.runs]))
    # one trial made an outlier (its segment scaled by 100) is the one left out
    _, _, u_runs = prep.filtered(DEFAULT_CSP)
    o = prep.runs[0].trials.onsets[2]
    saved = u_runs[0][o:o + int(3 * prep.sfreq)].copy()
    u_runs[0][o:o + int(3 * prep.sfreq)] *= 100.0
    try:
        kept = rs.rejecting(prep, sel, DEFAULT_CSP)
        assert 2 not in kept[0][1] and len(kept[0][1]) >= len(prep.runs[0].trials) - 3
        assert isinstance(rs.fit_rejecting(prep, sel, DEFAULT_CSP), CspLdaParams)
    finally:
        u_runs[0][o:o + int(3 * prep.sfreq)] = saved


def _row(unit: str, plain: int, reject: int, ens: int = 50, ens_reject: int = 50) -> dict:
    correct = {"ensemble": {"2": ens}}
    for f in rs.FAMILIES:
        correct[f] = {"2": plain}
        correct[f"{f}+reject"] = {"2": reject}
        correct[f"ensemble[{f}+reject]"] = {"2": ens_reject}
    return {"unit": unit, "n_trials": 60, "correct": correct, "dropped": {f: [0] for f in rs.FAMILIES}}


def test_the_gates_follow_their_rules():
    g = rs.gate([_row("S001", 40, 44), _row("S002", 40, 43)])["csp_lda"]
    assert g["gate1"]["passes"] and g["gate2"] is not None and not g["gate2"]["passes"]
    g = rs.gate([_row("S001", 40, 50), _row("S002", 40, 39)])["riemann"]
    assert g["gate1"]["losing"] == ["S002"] and not g["gate1"]["passes"] and g["gate2"] is None
    rows = [_row("S001", 40, 44, 50, 54), _row("S002", 40, 43, 50, 53)]
    assert rs.gate(rows)["riemann"]["gate2"]["passes"] and "gate 1" in rs.markdown(rows, rs.gate(rows))
