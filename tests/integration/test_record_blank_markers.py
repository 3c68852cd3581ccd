"""`bci-stream record` of a string marker stream that sends empty or blank values between its cues (a stimulus
program's "trigger off"): every value is in the file, but the summary lists the cues only and says the others are no
marker, and a stream of nothing but such values gets the "no marker was recorded" warning (audit s67rec F9: they were
counted and listed as event names to map, `'' x95`, and calibrate then found none). Real LSL on loopback."""

from __future__ import annotations

import numpy as np
import pylsl
import pytest

from bci_stream.lsl.info import make_stream_info
from integration.test_record_cli import SFREQ, record_pushed
from support.common import TINY_CH_NAMES, test_signal, unique


@pytest.mark.parametrize("cues", [True, False], ids=["cues-between-blanks", "blanks-only"])
def test_empty_or_blank_marker_values_are_recorded_but_not_listed_as_markers(tmp_path, cues: bool) -> None:
    name, n = unique("blank"), 1000
    eeg = pylsl.StreamOutlet(make_stream_info(name, "EEG", TINY_CH_NAMES, SFREQ, f"{name}-src"))
    marks = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE, "string",
                                                f"{name}-markers-src"))
    marked = {k: [""] for k in range(50, n, 50)} | {333: ["   "]}
    if cues:
        marked |= {100: ["left"], 400: ["right"], 700: ["left"]}
    got, said = record_pushed(tmp_path, name, eeg, marks, test_signal(n, seed=9).astype(np.float32), SFREQ, marked)
    blank = sum(1 for v in marked.values() if not v[0].strip())
    assert said[0].split(", ")[1].startswith(f"{len(marked)} markers from"), said  # every value is in the file
    if cues:
        assert [(e.onset, e.description) for e in got.events] == [(100, "left"), (400, "right"), (700, "left")]
        assert said[1] == (f"markers: 'left' x2, 'right' x1; {blank} empty or blank value(s), in the file, no marker "
                           "(calibrate and the decoders read none there)"), said
        assert not any(line.startswith("warning: no marker") for line in said), said
    else:
        assert got.events == [] and not any(line.startswith("markers:") for line in said), said
        assert (f"warning: no marker was recorded: calibrate needs the cues (the {len(marked)} value(s) received from "
                f"'{name}-markers' are all empty or blank)") in said, said
