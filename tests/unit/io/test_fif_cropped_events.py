"""A FIF cropped from a longer run (``first_samp`` > 0) places its events on the samples mne does, with a
``meas_date`` or without one: without, the annotations count from the original run's sample 0, and every event
was read ``first_samp`` samples late (1 s late for a run cropped at 1 s; those near the end dropped; audit
s69io F2). Real files written and read by mne."""

from __future__ import annotations

import datetime

import mne
import numpy as np
import pytest

from bci_stream.io import load_recording

UTC = datetime.timezone.utc


@pytest.mark.parametrize("meas_date", [datetime.datetime(2020, 1, 1, tzinfo=UTC), None])
def test_a_cropped_runs_events_are_on_the_samples_mne_gives(tmp_path, meas_date):
    info = mne.create_info(["C3", "Cz", "C4"], 250.0, "eeg")
    raw = mne.io.RawArray(np.random.default_rng(3).normal(0, 2e-5, (3, 2500)), info, verbose="error")
    raw.set_meas_date(meas_date)
    raw.set_annotations(mne.Annotations([2.0, 5.0, 9.5], [1.0, 0.0, 0.2], ["left", "right", "late"],
                                        orig_time=meas_date))
    raw.crop(tmin=1.0)  # first_samp 250
    path = tmp_path / "crop_raw.fif"
    raw.save(path, verbose="error")
    back = mne.io.read_raw_fif(path, verbose="error")
    assert back.first_samp == 250
    events, ids = mne.events_from_annotations(back, verbose="error")
    rec = load_recording(path)
    assert [(e.onset, e.description) for e in rec.events] == [
        (int(s) - back.first_samp, name) for s, name in zip(events[:, 0], ["left", "right", "late"])]
    assert [e.onset for e in rec.events] == [250, 1000, 2125] and rec.events[0].duration == 250
