"""A GDF file whose events are only in a trigger channel (mne's ``TRIGGER``/``STATUS``), with an empty event table or
none at all: its events come from the trigger channel, as for an EDF file. Real EEG: EEGMMIDB S001R06 (tests/data).

Before this rule an empty or absent table gave no events and the trigger channel was not read.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import load_recording
from support.common import SUBSET_R06, subset_file
from support.gdf import GdfEvent, write_gdf

pytest.importorskip("mne")


@pytest.mark.parametrize("table", ["empty", "absent"])
def test_the_trigger_channel_gives_the_events_of_a_file_without_event_table(tmp_path: Path, table: str) -> None:
    rec = load_recording(subset_file(SUBSET_R06), ch_names=["C3", "Cz", "C4", "Pz"])
    x = rec.data[:, :3200]
    trig = np.zeros(3200)
    trig[160:320], trig[960:1120] = 1, 2
    path = write_gdf(tmp_path / "t.gdf", np.vstack([x, trig]), 160.0, ["C3", "Cz", "C4", "Pz", "TRIGGER"],
                     dims=["uV"] * 4 + [""], events=[])
    if table == "absent":
        path.write_bytes(path.read_bytes()[:-8])  # the empty table is its 8-byte head
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = load_recording(path)

    assert got.ch_names == ["C3", "Cz", "C4", "Pz"]
    assert [e.onset for e in got.events] == [160, 960]


def test_a_table_with_events_is_read_rather_than_the_trigger_channel(tmp_path: Path) -> None:
    rec = load_recording(subset_file(SUBSET_R06), ch_names=["C3", "Cz"])
    trig = np.zeros(3200)
    trig[160:320] = 1
    path = write_gdf(tmp_path / "t.gdf", np.vstack([rec.data[:, :3200], trig]), 160.0, ["C3", "Cz", "TRIGGER"],
                     dims=["uV"] * 2 + [""], events=[GdfEvent(480, 769, 100)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = load_recording(path)

    assert [(e.onset, e.duration, e.description) for e in got.events] == [(480, 100, "769")]
