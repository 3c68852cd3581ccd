"""A BrainVision ``DC Correction`` marker (BrainVision Recorder reset a DC-coupled amplifier's offsets: a step on every
channel; mne reads ``DC Correction/``) is a discontinuity, as a ``New Segment/`` pause: the trial whose span it
reaches is left out of calibration, ``evaluate`` ends a cue's label there, and ``replay`` names it at the start.
Real EEG (S001 R05 subset written as a Recorder file)."""

from __future__ import annotations

from pathlib import Path

from bci_stream.io import load_recording
from bci_stream.io.recording import Event
from bci_stream.sim.replay import discontinuity_warning
from bci_stream.train.classical.bad_spans import bad_spans, is_boundary, settle_s
from bci_stream.train.evaluate.inputs import cue_spans
from support.brainvision import write_brainvision


def _recording(tmp_path: Path):
    from support.brainvision import R05
    from support.common import subset_file

    src = load_recording(subset_file(R05))
    data = src.data[:, :4000]  # in µV, the writer's default unit
    markers = [("Stimulus", "S  1", 500, 1), ("DC Correction", "", 1000, 1), ("Stimulus", "S  2", 2000, 1)]
    return load_recording(write_brainvision(tmp_path / "dc", data, src.sfreq, [n.strip(".") for n in src.ch_names],
                                            markers=markers))


def test_a_dc_correction_is_a_discontinuity(tmp_path: Path) -> None:
    rec = _recording(tmp_path)
    assert (1000, 0, "DC Correction/") in [(e.onset, e.duration, e.description) for e in rec.events]
    assert is_boundary("DC Correction/")
    settle = int(-(-settle_s(rec.sfreq) * rec.sfreq // 1))
    assert [(s.start, s.stop, s.reason) for s in bad_spans(rec.events, [], rec.sfreq)] == [
        (1000, 1000 + settle, "DC Correction/")]


def test_evaluate_ends_a_cue_at_it_and_replay_names_it(tmp_path: Path) -> None:
    rec = _recording(tmp_path)
    spans = cue_spans(rec.events, rec.n_times, {"Stimulus/S  1": "left", "Stimulus/S  2": "right"})
    assert Event(500, 500, "Stimulus/S  1") in spans
    said = discontinuity_warning(rec, "dc.vhdr", "x-markers")
    assert said is not None and "DC Correction/ (BrainVision Recorder reset the amplifier's DC offsets" in said
    assert "t=6.250 s" in said
