"""read_session reads a recording without a model (``bci-stream record``: the recorder's streams 1 input, 4 events and
5 markers, no decoded or provenance stream): its inputs in µV, its events and its markers, as from a decoder's
recording, with the decoded part absent and said so (``decoded`` False, the outputs None), never invented. A file
that is not a session is refused naming its streams and the reader for other XDF files.

Real files written by the service's own :class:`~bci_stream.service.recorder.Recorder` (``output_header=None``, as
:class:`~bci_stream.service.record_only.RecordOnly` opens it), read by pyxdf."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import load_recording
from bci_stream.io.recording import UNIT
from bci_stream.io.session import read_session
from bci_stream.service.recorder import Recorder
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal
from support.xdf import write_xdf


def record_only(path: Path, x: np.ndarray, ts: np.ndarray) -> None:
    """A ``bci-stream record`` file: inputs in volts, events, a followed marker stream and its clock offset."""
    n_chans = x.shape[1]
    rec = Recorder(path, {"name": "amp", "type": "EEG", "ch_names": list(TINY_CH_NAMES), "sfreq": TINY_SFREQ,
                          "channel_format": "float32", "source_id": "amp-1", "unit": ["V"] * n_chans,
                          "ch_types": ["eeg"] * n_chans}, None, flush_interval=0.05)
    rec.event(float(ts[0]), "start", stream="amp", seq=0)
    rec.clock_offset(float(ts[0]), 0.0)
    rec.marker_stream({"name": "amp-markers", "type": "Markers", "source_id": "m-1", "hostname": "h"},
                      connected_at=float(ts[0]))
    for c in np.array_split(np.arange(len(x)), 5):
        rec.inputs(x[c], ts[c])
    rec.marker(float(ts[40]), "T1")
    rec.marker(float(ts[250]), "T2")
    rec.marker_clock_offset(float(ts[0]), 0.25)
    rec.event(float(ts[-1]), "stopped", samples=len(x))
    rec.close()


def test_a_record_only_file_reads_as_its_inputs_events_and_markers_with_no_outputs(tmp_path: Path) -> None:
    uv = test_signal(400, seed=5).astype(np.float32)
    ts = 200.0 + np.arange(len(uv)) / TINY_SFREQ
    path = tmp_path / "cal.xdf"
    record_only(path, uv * np.float32(1e-6), ts)
    s = read_session(path)
    assert not s.decoded  # said so: no decoder's outputs in this file
    assert s.outputs is None and s.output_timestamps is None and s.seq is None and s.state_epoch is None
    assert s.output_labels == [] and s.model == {}
    ref = load_recording(path)  # what calibrate reads of it: the same inputs
    assert s.inputs.ch_names == list(TINY_CH_NAMES) and s.inputs.ch_units == [UNIT] * len(TINY_CH_NAMES)
    np.testing.assert_array_equal(s.inputs.data, ref.data)
    np.testing.assert_allclose(s.inputs.data, uv.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(s.input_timestamps, ts)
    assert s.clock_offsets == [(float(ts[0]), 0.0)]
    assert [e["event"] for _, e in s.events] == ["start", "marker_connected", "stopped"]
    assert s.markers == [(float(ts[40]), "T1"), (float(ts[250]), "T2")]
    np.testing.assert_allclose(s.marker_times(), [ts[40] + 0.25, ts[250] + 0.25])
    assert s.marker_stream["name"] == "amp-markers" and float(s.marker_stream["connected_at"]) == ts[0]


def test_a_file_that_is_not_a_session_is_refused_naming_its_streams(tmp_path: Path) -> None:
    """A LabRecorder-style file (an EEG and a marker stream, ids 1 and 2) is no session: the error names what it
    holds and the reader that takes it."""
    stamps = 10.0 + np.arange(100) / 100.0
    path = write_xdf(tmp_path / "lab.xdf", stamps, [("amp", "EEG", ["C3"], 100.0, np.zeros((100, 1)), "uV")],
                     [("cues", stamps[[5]], ["T1"])])
    with pytest.raises(ValueError, match=r"got streams 1 'amp', 2 'cues' in .*lab\.xdf; read another XDF file "
                                         r"with bci_stream\.io\.load_recording"):
        read_session(path)
