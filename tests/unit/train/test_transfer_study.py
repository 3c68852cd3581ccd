"""The cross-subject transfer study (:mod:`bci_stream.train.classical.transfer_study`) on real EEG (tests/data,
S001 R05/R06 as the target; its R09 stands in for another unit): with no other unit it is the tangent-space fit;
re-centred tangent vectors average to zero (the Riemannian mean is the identity after re-centring); pooling keeps
the target's graph (projection, reference point) and only changes the read-out; the gate follows its rule."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.train.classical.configs import DEFAULT_RIEMANN

pytest.importorskip("sklearn", reason="the study fits with scikit-learn (train extra)")

from bci_stream.train.classical import transfer_study as ts  # noqa: E402
from bci_stream.train.classical.fit import fit_riemann  # noqa: E402
from bci_stream.train.classical.prepared import all_trials  # noqa: E402
from support.common import SUBSET_S001_21CH, subset_file  # noqa: E402
from support.train_data import FISTS_FEET, s001_calibration  # noqa: E402


@pytest.fixture(scope="module")
def prep():
    return s001_calibration()


@pytest.fixture(scope="module")
def other():
    from bci_stream.train.classical.calibration_inputs import load_calibration

    return load_calibration([subset_file(SUBSET_S001_21CH / "S001R09.edf")], FISTS_FEET, progress=False)


def test_without_other_units_it_is_the_tangent_space_fit(prep):
    sel = all_trials(prep, [0, 1])
    alone = fit_riemann(prep, sel, DEFAULT_RIEMANN)
    pooled = ts.fit_transfer(prep, sel, ts.TransferConfig(DEFAULT_RIEMANN, ()))
    np.testing.assert_allclose(pooled.coef, alone.coef, atol=1e-9)
    np.testing.assert_allclose(pooled.intercept, alone.intercept, atol=1e-9)


def test_recentred_vectors_average_to_zero(prep, other):
    own = fit_riemann(prep, all_trials(prep, [0, 1]), DEFAULT_RIEMANN)
    x, y = ts.recentred_vectors(other, own.projection, DEFAULT_RIEMANN, list(prep.labels))
    assert x.shape[1] == own.coef.shape[1] and set(np.unique(y)) <= {0, 1}
    assert np.abs(x.mean(axis=0)).max() < 1e-6 * np.abs(x).max()


def test_pooling_changes_only_the_read_out(prep, other, monkeypatch):
    monkeypatch.setitem(ts._PREPS, "OTHER", other)
    sel = all_trials(prep, [0, 1])
    alone = fit_riemann(prep, sel, DEFAULT_RIEMANN)
    pooled = ts.fit_transfer(prep, sel, ts.TransferConfig(DEFAULT_RIEMANN, ("OTHER",)))
    np.testing.assert_array_equal(pooled.ref_isqrt, alone.ref_isqrt)
    np.testing.assert_array_equal(pooled.projection, alone.projection)
    assert pooled.coef.shape == alone.coef.shape and not np.allclose(pooled.coef, alone.coef)


def test_gate():
    def row(unit, a, t):
        return {"unit": unit, "n_trials": 60, "correct": {"alone": {"2": a}, "transfer": {"2": t}}}

    assert ts.gate([row("S001", 40, 45), row("S002", 50, 52)])["passes"]
    g = ts.gate([row("S001", 40, 50), row("S002", 50, 49)])
    assert g["margin"] == 9 and g["subjects_worse"] == ["S002"] and not g["passes"]
