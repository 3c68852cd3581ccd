"""The XDF reader and the live service read a stream's channel units by one rule
(:func:`bci_stream.core.units.stream_units`): a stream that gives no channel a unit is read in an assumed unit (µV
from a file, ``input_unit`` live); beside channels that give a unit, a channel that gives none, a blank unit
included, is not guessed: the service keeps it unit-less (refused among a model's channels), the reader keeps its
values unconverted, not a voltage. Before, the reader took a blank unit beside voltage channels as µV.

Real pylsl StreamInfo headers (the live side) and real files written by the project's XDF chunk writer, read by pyxdf.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.core.units import stream_units
from bci_stream.io import load_recording
from bci_stream.io.recording import UNIT
from bci_stream.io.xdf_chunks import XdfWriter, stream_header_xml
from bci_stream.lsl.info import make_stream_info
from bci_stream.lsl.units import read_units

NAMES = ["C3", "Cz", "C4"]
X = np.random.default_rng(5).normal(0, 20, (200, 3))


def write(path: Path, units: list[str], types: list[str]) -> Path:
    """One 100 Hz stream ``amp`` of ``X`` with these units and types, and one cue."""
    stamps = 10.0 + np.arange(len(X)) / 100.0
    with path.open("wb") as f:
        w = XdfWriter(f)
        w.add_stream(1, stream_header_xml("amp", "EEG", NAMES, 100.0, "double64", unit=units, ch_types=types),
                     "double64", 3)
        w.write_numeric(1, stamps, X)
        w.add_stream(2, stream_header_xml("cues", "Markers", ["m"], 0.0, "string"), "string", 1)
        w.write_strings(2, [10.5], ["T1"])
        for sid in (1, 2):
            w.write_clock_offset(sid, 10.0, 0.0)
            w.close_stream(sid)
    return path


@pytest.mark.parametrize("units", [["uV", "uV", ""], ["", "mV", ""], ["-6", "", "n/a"], ["", "", ""],
                                   ["", "none", ""]])
def test_the_file_reader_reads_each_channel_as_the_live_service_does(tmp_path: Path, units: list[str]) -> None:
    types = ["eeg"] * 3
    live = read_units(make_stream_info("amp", "EEG", NAMES, 100.0, "amp-1", unit=units, ch_type=types))
    assert (live, all(u is None for u in live)) == stream_units(units, types)  # the live rule is the shared one
    rec = load_recording(write(tmp_path / "amp.xdf", units, types))
    if all(u is None for u in live):  # a stream without units: every channel in the assumed unit (µV in a file)
        assert rec.ch_units == [UNIT] * 3
        np.testing.assert_allclose(rec.data, X.T, rtol=1e-12)
        return
    for k, unit in enumerate(live):
        if unit is None:  # not guessed: as it is, unit-less, left out of calibration
            assert (rec.ch_units[k], rec.ch_types[k]) == ("none" if not units[k] else units[k], "misc")
            np.testing.assert_array_equal(rec.data[k], X[:, k])
        else:
            assert (rec.ch_units[k], rec.ch_types[k]) == (UNIT, "eeg")
    assert rec.ch_units != [UNIT] * 3  # before: the blank unit beside uV read as µV
