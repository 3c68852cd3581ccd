"""CSP keeps no filter in the data's null space (common average reference on 3 or 4 channels removes a direction).

Before: `calibrate --channels C3,Cz,C4` fitted a CSP filter along the common mode that CAR had removed; its log-power
was rounding noise (running power ~1e-26) on which the float32 step graph and the float64 reference disagree, so the
export was refused after the whole fit ("the step graph run one sample at a time differs from the offline reference
by 0.000812"). Real EEG: the repository's 21-channel subset of S001 (tests/data).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.train.classical.fit import _csp_filters
from support.common import SUBSET_S001_21CH


def _covs(x: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    covs = np.einsum("ntc,ntd->ncd", x, x) / x.shape[1]
    covs /= np.trace(covs, axis1=1, axis2=2)[:, None, None]
    return [covs[labels == k].mean(0) for k in (0, 1)]


def test_csp_leaves_out_the_direction_car_removed():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 200, 3)) * np.array([1.0, 2.0, 3.0])
    labels = np.repeat([0, 1], 20)
    x[labels == 1, :, 0] *= 2.0
    car = x - x.mean(axis=2, keepdims=True)
    filters = _csp_filters(_covs(car, labels), 4, 0.1)
    assert filters.shape == (3, 2)
    common = np.ones(3) / np.sqrt(3)
    assert np.all(np.abs(common @ filters) / np.linalg.norm(filters, axis=0) < 1e-6)  # no common-mode filter
    full = _csp_filters(_covs(x, labels), 4, 0.1)  # full rank: every direction may be picked
    assert full.shape == (3, 3)


def test_calibrate_on_three_channels_exports(tmp_path: Path):
    runs = [str(SUBSET_S001_21CH / f"S001R0{k}.edf") for k in (5, 6)]
    res = CliRunner().invoke(main, ["calibrate", "--no-progress", *runs, "--labels", "T1=fists,T2=feet", "--channels",
                                    "C3,Cz,C4", "--name", "c3czc4", "--out", str(tmp_path)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert f"exported to {tmp_path / 'c3czc4'}" in res.output
