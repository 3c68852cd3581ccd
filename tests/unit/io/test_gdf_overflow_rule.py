"""Which samples at a GDF channel's digital minimum/maximum read as NaN (``bci_stream.io.gdf.overflow_mask``), on
files written by ``support.gdf`` from real EEG (EEGMMIDB S001R06, tests/data).

Before this rule every sample at a channel's digital extreme read as NaN: in a file whose physical range is fitted
to its data (as many exporters write it) each channel's own peak became NaN, and calibrate left out every trial
within 3 s before / 3.2 s after it. A channel stored at a lower rate than the file's top rate was tested on mne's
interpolated values: a saturated run was only half marked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import Recording, load_recording
from bci_stream.io.gdf import SATURATION_S
from support.common import SUBSET_R06, subset_file
from support.gdf import bci2a_like, write_gdf
from support.loading import load_warned

pytest.importorskip("mne")

CUES = {"T1": 769, "T2": 770}
LABELS = ["C3", "Cz", "C4", "Pz"]


@pytest.fixture(scope="module")
def r06() -> Recording:
    return load_recording(subset_file(SUBSET_R06), ch_names=LABELS)


def _rows(rec: Recording, seconds: int = 20) -> np.ndarray:
    return rec.data[:, :160 * seconds].copy()


def test_a_range_shared_by_the_channels_and_fitted_to_the_data_keeps_every_sample(r06: Recording,
                                                                                 tmp_path: Path) -> None:
    x = _rows(r06)
    path = write_gdf(tmp_path / "shared.gdf", x, 160.0, LABELS, physical=(float(x.min()), float(x.max())))
    rec, said = load_warned(path, Warning)

    assert not np.isnan(rec.data).any()  # before: the file's max and min sample (on two channels) read as NaN
    np.testing.assert_allclose(rec.data, x, atol=np.ptp(x) / 65535)
    assert [s for s in said if "isolated sample(s)" in s and "looks fitted to the data; kept" in s]


def test_a_2a_file_with_each_channel_s_range_fitted_to_its_data_keeps_every_sample(tmp_path: Path) -> None:
    full = load_recording(subset_file(SUBSET_R06))
    path = bci2a_like(tmp_path / "fitted.gdf", full, cue_codes=CUES, physical="fitted")
    rec, said = load_warned(path, Warning)

    assert not np.isnan(rec.data).any()  # before: 25 channels x their min and max, each leaving trials out
    kept = next(s for s in said if "isolated sample(s)" in s)
    assert "on 25 channel(s)" in kept and "kept as data" in kept
    assert not [s for s in said if "read as NaN" in s]


def test_a_run_at_one_channel_s_extreme_is_saturation_from_50_ms_on(r06: Recording, tmp_path: Path) -> None:
    x = _rows(r06)
    limit = float(np.ceil(np.abs(x).max())) + 10
    need = int(np.ceil(SATURATION_S * 160))  # 8 samples at 160 Hz
    x[0, 500:500 + need] = limit  # C3 saturated for 50 ms: NaN
    x[1, 900:900 + need - 1] = -limit  # Cz at its minimum for 7 samples (a flat peak): kept
    x[2, 1200:1300] = -limit  # a gap on C4 alone (not every channel): a run, NaN
    path = write_gdf(tmp_path / "runs.gdf", x, 160.0, LABELS, physical=(-limit, limit))
    rec, said = load_warned(path, Warning)

    nan = np.isnan(rec.data)
    assert nan[0, 500:500 + need].all() and nan[2, 1200:1300].all() and nan.sum() == need + 100
    assert not nan[1].any() and np.allclose(rec.data[1, 900:900 + need - 1], -limit)
    assert any(f"{need + 100} sample(s) ({need + 100} value(s) on 2 channel(s): C3, C4) read as NaN, the first at "
               "t=3.125 s" in s for s in said)
    assert any(f"{need - 1} isolated sample(s) on 1 channel(s) (Cz)" in s for s in said)


def test_one_time_point_with_every_channel_at_an_extreme_is_a_missing_sample(r06: Recording,
                                                                            tmp_path: Path) -> None:
    x = _rows(r06)
    limit = float(np.ceil(np.abs(x).max())) + 10
    x[:, 700] = [-limit, limit, -limit, -limit]  # GDF's missing-sample mark, one sample long
    path = write_gdf(tmp_path / "missing.gdf", x, 160.0, LABELS, physical=(-limit, limit))
    rec, said = load_warned(path, Warning)

    assert np.isnan(rec.data[:, 700]).all() and np.isnan(rec.data).sum() == 4
    assert any("1 sample(s) (4 value(s) on 4 channel(s)" in s and "the first at t=4.375 s" in s
               and "1 sample(s) with every channel at its digital minimum or maximum" in s for s in said)


def test_a_channel_stored_at_half_rate_is_tested_on_its_own_samples(r06: Recording, tmp_path: Path) -> None:
    """Pz at 80 of the file's 160 samples per second: mne interpolates it to 160 Hz (its values ring past the
    range around a saturated run); the run's NaN covers each of its own samples' 2 samples at 160 Hz."""
    x = _rows(r06)
    limit = float(np.ceil(np.abs(x).max())) + 10
    x[3, 800:808] = limit  # 4 of Pz's own samples (800, 802, 804, 806 at 160 Hz): 50 ms at 80 Hz
    x[3, 1600] = limit  # one of its own samples: kept
    path = write_gdf(tmp_path / "slow.gdf", x, 160.0, LABELS, physical=(-limit, limit), n_samps=[160, 160, 160, 80])
    rec, said = load_warned(path, Warning)

    nan = np.isnan(rec.data)
    assert nan[3, 800:808].all() and nan.sum() == 8  # before: 4 NaN (each own sample) between interpolated values
    assert any("2 isolated sample(s) on 1 channel(s) (Pz)" in s for s in said)  # its 2 samples at 160 Hz
