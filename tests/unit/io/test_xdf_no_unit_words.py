"""An XDF stream whose channels say they have no unit (``none``, ``n/a``, ``unknown``: LabRecorder files of many
amplifier apps) loads as the same stream with blank units: in µV (README: "an XDF stream without units is read as
µV"), as the live service and ``bci-stream record`` read such a stream in its assumed unit. Before, the reader took
only a blank unit for "no unit" and refused the file ("channel units must be volts, ... stream 'amp' has ['n/a']")
in calibrate, evaluate and replay.

Mixed with channels that give a unit, such a channel is not guessed (the live service refuses it there:
:func:`bci_stream.lsl.units.unit_scale`): it is kept as it is, with its unit, typed ``misc`` (calibrate leaves it
out), as mne-lsl's ``none`` on a stim channel always was.

Real files written by the project's XDF chunk writer, read by pyxdf.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import DataError, load_recording
from bci_stream.io.xdf_chunks import XdfWriter, stream_header_xml

NAMES = ["C3", "Cz", "C4"]
X = np.random.default_rng(11).normal(0, 20, (300, 3))
STAMPS = 10.0 + np.arange(300) / 100.0


def write(path: Path, units: list[str], types: list[str] | None = None, scale: np.ndarray | None = None) -> Path:
    """One 100 Hz stream ``amp`` of ``X`` (times ``scale`` per channel) with these units, and one cue."""
    with path.open("wb") as f:
        w = XdfWriter(f)
        w.add_stream(1, stream_header_xml("amp", "EEG", NAMES, 100.0, "double64", unit=units, ch_types=types),
                     "double64", 3)
        w.write_numeric(1, STAMPS, X * (1.0 if scale is None else scale))
        w.add_stream(2, stream_header_xml("cues", "Markers", ["m"], 0.0, "string"), "string", 1)
        w.write_strings(2, [11.0], ["T1"])
        for sid in (1, 2):
            w.write_clock_offset(sid, 10.0, 0.0)
            w.close_stream(sid)
    return path


@pytest.mark.parametrize("word", ["n/a", "none", "unknown", "N/A", "None", "-"])
def test_a_stream_whose_units_say_none_reads_as_the_blank_unit_file_in_uv(tmp_path: Path, word: str) -> None:
    blank = load_recording(write(tmp_path / "blank.xdf", ["", "", ""]))
    said = load_recording(write(tmp_path / "said.xdf", [word] * 3))
    np.testing.assert_array_equal(said.data, blank.data)
    np.testing.assert_allclose(said.data, X.T, rtol=1e-12)  # µV as written
    assert said.ch_units == blank.ch_units == ["microvolts"] * 3
    assert said.ch_types == blank.ch_types == ["eeg"] * 3
    assert said.events == blank.events and said.ch_names == NAMES


def test_blank_and_said_none_mixed_are_one_stream_without_units(tmp_path: Path) -> None:
    """No channel gives a unit (some blank, some ``n/a``): the whole stream is in µV."""
    rec = load_recording(write(tmp_path / "mix.xdf", ["", "n/a", "unknown"]))
    np.testing.assert_allclose(rec.data, X.T, rtol=1e-12)
    assert rec.ch_units == ["microvolts"] * 3


def test_beside_channels_in_volts_a_channel_that_says_none_is_kept_as_it_is(tmp_path: Path) -> None:
    """Two channels in volts and one ``n/a`` (no type): the two load in µV; the third is not guessed to be µV (as
    the live service refuses a stream whose desc gives units to some channels only, for the channels it uses): its
    values and unit are kept, typed ``misc``, and calibrate leaves it out. So is a blank unit there (it read as
    µV before, while the live service keeps such a channel unit-less: one rule now,
    :func:`bci_stream.core.units.stream_units`)."""
    from bci_stream.train.classical.calibration_inputs import eeg_channels

    scale = np.array([1e-6, 1e-6, 1.0])
    rec = load_recording(write(tmp_path / "mixed.xdf", ["V", "V", "n/a"], scale=scale))
    np.testing.assert_allclose(rec.data, X.T, rtol=1e-12)
    assert rec.ch_units == ["microvolts", "microvolts", "n/a"]
    assert rec.ch_types == ["eeg", "eeg", "misc"]
    assert eeg_channels(rec, []) == ["C3", "Cz"]
    typed = load_recording(write(tmp_path / "typed.xdf", ["V", "V", "none"], ["EEG", "EEG", "stim"], scale=scale))
    assert typed.ch_types == ["eeg", "eeg", "stim"] and typed.ch_units == ["microvolts", "microvolts", "none"]
    blank = load_recording(write(tmp_path / "blank3.xdf", ["V", "V", ""], scale=np.array([1e-6, 1e-6, 1.0])))
    np.testing.assert_allclose(blank.data, X.T, rtol=1e-12)  # the blank channel's values as they are, not × 1e-6
    assert blank.ch_units == ["microvolts", "microvolts", "none"] and blank.ch_types == ["eeg", "eeg", "misc"]
    assert eeg_channels(blank, []) == ["C3", "Cz"]


def test_a_stream_with_no_voltage_channel_is_still_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape("at least one channel; stream 'amp' has ['g', 'n/a']")):
        load_recording(write(tmp_path / "acc.xdf", ["g", "n/a", "g"]))
