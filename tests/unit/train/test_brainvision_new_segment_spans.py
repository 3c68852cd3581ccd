"""A BrainVision ``New Segment`` after the start (BrainVision Recorder writes one at every pause/resume: the samples
on either side are not contiguous) is a discontinuity for calibrate, evaluate and train, as an EEGLAB ``boundary``:
the trials whose span reaches it, or the settling time after it, are left out."""

from __future__ import annotations

from pathlib import Path

from bci_stream.io import load_recording
from bci_stream.train.classical.bad_spans import bad_spans, is_boundary, settle_s
from support.brainvision import subset_brainvision


def test_a_new_segment_after_the_start_is_a_discontinuity(tmp_path: Path) -> None:
    rec = load_recording(subset_brainvision(tmp_path / "run", new_segments=[8000]))
    assert is_boundary("New Segment/")
    spans = bad_spans(rec.events, [], rec.sfreq)
    settle = int(-(-settle_s(rec.sfreq) * rec.sfreq // 1))
    assert [(s.start, s.stop, s.reason) for s in spans] == [(8000, 8000 + settle, "New Segment/")]


def test_a_discontinuity_at_sample_0_marks_nothing() -> None:
    """A ``New Segment/`` (or ``boundary``) at sample 0 follows no data (a segmented export's first segment, whose
    marker mne keeps when another marker is listed first): no span, so no trial of the first 3.2 s is left out
    (review s20 #5); one later in the file still is a discontinuity."""
    from bci_stream.io.recording import Event

    events = [Event(0, 0, "New Segment/"), Event(0, 0, "boundary"), Event(160, 0, "Stimulus/S  1")]
    assert bad_spans(events, [], 160.0) == []
    later = bad_spans([*events, Event(8000, 0, "New Segment/")], [], 160.0)
    assert [(s.start, s.reason) for s in later] == [(8000, "New Segment/")]
