"""GDF files (the BCI Competition IV 2a / Graz layout) through ``load_recording``, written by ``support.gdf`` from
real EEG (EEGMMIDB S001R06, tests/data; its T1/T2 cue times become 769/770 cues with 768 trial starts).

Before these rules (mne 1.13 alone): the EOG channels of a 2a file were typed EEG (and streamed so by replay); a
GDF 1.x channel in mV read 1000x too large and a GDF 2.x one in V came with one "Unsupported physical dimension ...
contact the MNE-Python developers" warning per channel; every event lasted at least one sample (a mode-1 table's
cues labelled one sample each, silently, instead of asking for a label window), whatever the table's rate; and the
samples GDF marks missing (every channel at its digital minimum: the gaps between the runs of a 2a file) or
saturated read as the physical minimum, -100 µV, instead of NaN. Isolated samples at a channel's digital extreme
(its peak, in a file whose physical range is fitted to its data) stay data: tests/unit/io/test_gdf_overflow_rule.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.core.channels import pick_channels
from bci_stream.io import Recording, load_recording
from bci_stream.io.errors import LabelMapError
from support.common import SUBSET_R06, subset_file
from support.gdf import (BCI2A_LABELS, BCI2A_POSITIONS, CUE_LEFT, CUE_RIGHT, NEW_RUN, REJECTED_TRIAL, TRIAL_START,
                         GdfEvent, bci2a_like, write_gdf)
from support.loading import load_warned

pytest.importorskip("mne")

CUES = {"T1": CUE_LEFT, "T2": CUE_RIGHT}


@pytest.fixture(scope="module")
def r06() -> Recording:
    return load_recording(subset_file(SUBSET_R06))


def _rows(rec: Recording) -> np.ndarray:
    """The 22 EEG positions and Fp1/Fpz/Fp2 (the stand-in EOG) of ``rec``, in the 2a order, cut to whole seconds."""
    rows, _ = pick_channels(rec.data, rec.ch_names, BCI2A_POSITIONS + ["Fp1", "Fpz", "Fp2"])
    return rows[:, :rec.n_times // 160 * 160]


def test_a_2a_layout_file_reads_the_real_samples_eog_typed_and_cues_with_durations(r06: Recording,
                                                                                     tmp_path: Path) -> None:
    path = bci2a_like(tmp_path / "A01T.gdf", r06, cue_codes=CUES)
    rec, said = load_warned(path, Warning)

    assert rec.ch_names == BCI2A_LABELS and rec.sfreq == 160.0 and not said
    assert rec.ch_types == ["eeg"] * 22 + ["eog"] * 3  # mne alone: 25 x "eeg"
    assert rec.units() == ["microvolts"] * 25
    step = (np.ptp(_rows(r06), axis=1) + 2) / 65535  # int16 over each channel's range, rounded outward
    assert np.all(np.abs(rec.data - _rows(r06)) <= step[:, None])
    cues = [e for e in r06.events if e.description in CUES and 320 <= e.onset <= rec.n_times - 640]
    got = [e for e in rec.events if e.description in ("769", "770")]
    assert [(e.onset, e.duration, e.description) for e in got] == [(c.onset, 200, str(CUES[c.description]))
                                                                   for c in cues]
    starts = [e for e in rec.events if e.description == str(TRIAL_START)]
    assert [(e.onset, e.duration) for e in starts] == [(c.onset - 320, 960) for c in cues]
    assert rec.events[0].description == str(NEW_RUN) and rec.events[0].duration == 0  # mne: 1 sample

    picked = load_recording(path, ch_names=["C3", "Cz", "C4"], label_map={"769": "left", "770": "right"})
    assert picked.ch_names == ["EEG-C3", "EEG-Cz", "EEG-C4"] and picked.label_counts() == {
        "left": sum(c.description == "T1" for c in cues), "right": sum(c.description == "T2" for c in cues)}


@pytest.mark.parametrize("version, dims, scale", [("2.20", "V", 1e-6), ("2.20", "mV", 1e-3), ("1.25", "mV", 1e-3),
                                                  ("1.25", "V", 1e-6), ("2.20", "nV", 1e3)])
def test_a_file_in_v_mv_or_nv_reads_in_microvolts(r06: Recording, tmp_path: Path, version: str, dims: str,
                                                  scale: float) -> None:
    path = bci2a_like(tmp_path / "A01T.gdf", r06, cue_codes=CUES, dims=dims, scale=scale, dtype="float32",
                      version=version)
    rec, said = load_warned(path, Warning)

    assert rec.units() == ["microvolts"] * 25 and not said  # mne: 25 "Unsupported physical dimension" warnings
    np.testing.assert_allclose(rec.data, _rows(r06), rtol=1e-6, atol=1e-4)  # 1.x mV: 1000x before


def test_a_channel_that_is_not_a_voltage_keeps_its_values_and_unit(r06: Recording, tmp_path: Path) -> None:
    rows = _rows(r06)[:3]
    temp = np.full((1, rows.shape[1]), 36.6)
    path = write_gdf(tmp_path / "t.gdf", np.vstack([rows, temp]), 160.0, ["C3", "Cz", "C4", "Temp"],
                     dims=["uV"] * 3 + ["degC"], dtype="float32", version="1.25")
    rec, _ = load_warned(path, Warning)

    assert rec.ch_units == ["microvolts"] * 3 + ["degC"] and rec.ch_types == ["eeg"] * 3 + ["temperature"]
    np.testing.assert_allclose(rec.data[3], 36.6, rtol=1e-6)  # mne alone: 36.6 "V" -> 3.66e7 µV


def test_a_mode_1_event_table_has_no_durations_so_labels_ask_for_a_window(r06: Recording, tmp_path: Path) -> None:
    path = bci2a_like(tmp_path / "A01T.gdf", r06, cue_codes=CUES, event_mode=1)
    rec, _ = load_warned(path, Warning)

    assert {e.duration for e in rec.events} == {0}  # mne: 1 sample each
    with pytest.raises(LabelMapError, match="zero duration; give label_window"):
        load_recording(path, label_map={"769": "left", "770": "right"})
    labelled = load_recording(path, label_map={"769": "left", "770": "right"}, label_window=(0.5, 2.5))
    assert min(labelled.label_counts().values()) > 0


def test_event_positions_are_read_at_the_table_s_own_rate(r06: Recording, tmp_path: Path) -> None:
    rows = _rows(r06)[:2]
    events = [GdfEvent(1000, CUE_LEFT, 500), GdfEvent(3000, CUE_RIGHT, 500)]  # at 320 Hz: samples 500, 1500
    path = write_gdf(tmp_path / "r.gdf", rows, 160.0, ["C3", "C4"], events=events, event_rate=320.0)
    rec, _ = load_warned(path, Warning)

    assert [(e.onset, e.duration, e.description) for e in rec.events] == [(500, 250, "769"), (1500, 250, "770")]


def test_a_gap_on_every_channel_and_a_saturated_run_read_nan_an_isolated_extreme_is_kept(r06: Recording,
                                                                                           tmp_path: Path) -> None:
    rows = _rows(r06).copy()
    limit = float(np.ceil(np.abs(rows).max())) + 10  # the physical range holds every real sample
    rows[:, 1600:1700] = -2 * limit  # a 100-sample gap between runs, stored at the digital minimum as in a 2a file
    rows[7, 5000:5010] = 2 * limit  # C3 saturated for 10 samples (62 ms) at the digital maximum
    rows[11, 6000] = 2 * limit  # C4 at the digital maximum for one sample: kept
    path = write_gdf(tmp_path / "gap.gdf", rows, 160.0, BCI2A_LABELS, physical=(-limit, limit),
                     events=[GdfEvent(1700, NEW_RUN)])
    rec, said = load_warned(path, Warning)

    nan = np.isnan(rec.data)
    assert nan[:, 1600:1700].all() and nan[7, 5000:5010].all() and nan.sum() == 25 * 100 + 10  # mne: +-limit µV
    assert any("110 sample(s) (2510 value(s) on 25 channel(s): " in s and "read as NaN, the first at t=10.000 s" in s
               and "100 sample(s) with every channel" in s and "10 value(s) in runs" in s for s in said)
    assert rec.data[11, 6000] == pytest.approx(limit, abs=2 * limit / 65535)
    assert any("1 isolated sample(s) on 1 channel(s) (EEG-C4)" in s and "kept" in s for s in said)
    clean = ~nan
    np.testing.assert_allclose(rec.data[clean], np.clip(rows, -limit, limit)[clean], atol=2 * limit / 65535)


def test_a_rejected_trial_marker_is_an_event_like_any_other(r06: Recording, tmp_path: Path) -> None:
    """Today: a 1023 span over a trial is only an event (the trial stays labelled); leaving such trials out is
    another rule's work."""
    cue = next(e for e in r06.events if e.description == "T1" and e.onset > 320)
    path = bci2a_like(tmp_path / "A01T.gdf", r06, cue_codes=CUES,
                      extra_events=[GdfEvent(cue.onset - 320, REJECTED_TRIAL, 960)])
    rec = load_recording(path, label_map={"769": "left", "770": "right"})

    assert any(e.description == "1023" and e.onset == cue.onset - 320 and e.duration == 960 for e in rec.events)
    assert rec.labels[cue.onset] == 0
