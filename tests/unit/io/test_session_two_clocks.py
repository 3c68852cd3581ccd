"""``read_session`` of a recording whose sender came back as an instance on another clock (a host that rebooted):
the markers of each instance get that instance's clock offset, and the break is an input event, found on this host's
clock. Files written by the service's own recorder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bci_stream.io import Event
from bci_stream.io.session import read_session
from bci_stream.io.xdf_clock import JUMP
from bci_stream.service.recorder import Recorder

SFREQ = 250.0
A, B = -1e9, 3e8  # each instance's offset: this host's clock = its clock + the offset (B: a clock behind, rebooted)


def test_each_instances_markers_and_the_break_are_on_this_hosts_clock(tmp_path: Path) -> None:
    """Before: the offsets were searched in file order (one source clock assumed): the first instance's markers got
    the second's offset, 1.3e9 s off; and the break, a step back of the raw stamps, was no input event."""
    ih = dict(name="amp", type="EEG", ch_names=["C3", "C4"], sfreq=SFREQ, channel_format="float32", source_id="amp",
              unit="microvolts")
    rec = Recorder(tmp_path / "s.xdf", ih, None, flush_interval=0.05)
    rec.marker_stream({"name": "cues", "type": "Markers", "source_id": "cues", "hostname": "h"})
    here = {"A": 5000.0 + np.arange(500) / SFREQ, "B": 5003.5 + np.arange(500) / SFREQ}  # a 1.5 s break between
    truth = []
    for name, offset in (("A", A), ("B", B)):
        t = here[name]
        for lo in range(0, 500, 50):
            if lo == 100:  # each instance's first offset comes after its first samples and marker (its estimate)
                rec.clock_offset(float(t[lo]), offset)
                rec.marker_clock_offset(float(t[lo]), offset)
            if lo in (50, 300):
                rec.marker(float(t[lo] - offset), f"{name}{lo}")
                truth.append(float(t[lo]))
            rec.inputs(np.zeros((50, 2), np.float32), t[lo:lo + 50] - offset)
    rec.close()
    s = read_session(tmp_path / "s.xdf")
    assert [v for _, v in s.markers] == ["A50", "A300", "B50", "B300"]
    np.testing.assert_allclose(s.marker_times(), truth, rtol=0, atol=1e-6)
    assert s.inputs.events == [Event(500, 0, JUMP)]
