"""Where a zero-duration cue's label ends in ``evaluate``'s per-sample accuracy (session 21, defect 1).

A cue without a duration labels the span until the next event that ends a cue: a cue, an unmapped marker (a rest
cue), a discontinuity. Before the fix every event ended it, so a BrainVision ``Response/R  1`` (a response pad's
button, pressed 1 s into the trial) or a ``Comment/...`` cut the trial's label there, and the rest of the trial was
not scored. Data: real EEG, the first 25 s of EEGMMIDB S001 R05 (21-channel subset) written as BrainVision Recorder
writes it (``tests/support/brainvision.py``: its T0/T1/T2 cues as ``Stimulus/S  3``, ``S  1``, ``S  2``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bci_stream.io import load_recording
from bci_stream.io.recording import Event
from bci_stream.train.evaluate.inputs import cue_spans, ends_cue, load_for_model
from support.brainvision import STIMULI, subset_brainvision, write_brainvision

pytest.importorskip("mne")

N = 4000  # 25 s at 160 Hz: cues T2 at 672, T1 at 2000, T2 at 3328, each followed by T0 (rest) 656 samples later
LABELS = {f"Stimulus/{STIMULI['T1']}": "fists", f"Stimulus/{STIMULI['T2']}": "feet"}  # T0, S  3: rest, unmapped
CHANNELS = ["C3", "Cz", "C4"]


def _with_markers(folder: Path, name: str, extra: list[tuple[str, str, int, int]], new_segments=()) -> Path:
    """The subset's first ``N`` samples and Stimulus cues as BrainVision, with ``extra`` markers added."""
    src = load_recording(subset_brainvision(folder / f"{name}-src", n_times=N))
    cues = [(*e.description.split("/", 1), e.onset, 1) for e in src.events if e.description.startswith("Stimulus/")]
    return write_brainvision(folder / name, src.data, src.sfreq, src.ch_names, markers=cues + extra,
                             new_segments=new_segments)


def _cue_onsets(path: Path) -> list[int]:
    return [e.onset for e in load_recording(path).events if e.description in LABELS]


def test_responses_and_comments_do_not_end_a_cues_label(tmp_path: Path) -> None:
    plain = _with_markers(tmp_path, "plain", [])
    onsets = _cue_onsets(plain)
    assert onsets == [672, 2000, 3328]
    pressed = _with_markers(tmp_path, "pressed", [("Response", "R  1", k + 160, 1) for k in onsets]
                            + [("Comment", "late press", onsets[1] + 320, 1), ("SyncStatus", "Sync On", 100, 1)])
    want = load_for_model(plain, LABELS, CHANNELS)
    got = load_for_model(pressed, LABELS, CHANNELS)
    # each cue's label runs to the rest cue (S  3) 656 samples on, past the press 160 samples in (before: to it)
    np.testing.assert_array_equal(got.labels, want.labels)
    assert [int((got.labels[k:k + 700] >= 0).sum()) for k in onsets] == [656, 656, 656]
    assert got.notes[0] == ("pressed.vhdr: its 3 cue(s) have no duration (markers); each labels the span until the "
                            "next event, trials start at the cues; the spans run on past 4 response, comment or "
                            "bad-data mark(s) (Response/R  1 3, Comment/late press 1), which end no cue: a span ends "
                            "at the next cue, unmapped marker or discontinuity")
    assert want.notes[0].endswith("trials start at the cues")  # nothing run past: the note as before


def test_an_unmapped_rest_cue_and_a_pause_still_end_it(tmp_path: Path) -> None:
    """The rest marker ``S  3`` is not in the label map and ends the cue before it; so does a ``New Segment/`` (a
    pause: the samples after it were recorded later), and the press after the pause does not restart it."""
    path = _with_markers(tmp_path, "paused", [("Response", "R  1", 2000 + 300, 1)], new_segments=[2000 + 200])
    d = load_for_model(path, LABELS, CHANNELS)
    assert (d.labels[672:672 + 656] == d.rec.label_names.index("feet")).all()
    assert (d.labels[2000:2200] >= 0).all() and (d.labels[2200:3328] == -1).all()
    assert (d.labels[672 + 656:2000] == -1).all()  # after the rest cue S  3


def test_the_rule_by_kind_of_event() -> None:
    """The kinds of an XDF marker stream, an EEGLAB or FIF file and a BrainVision file: a bad-data mark (its samples
    are left out by the bad-span rule) runs on; a discontinuity, a cue, a plain marker end it."""
    lookup = {"left": "a", "right": "b", "Response/R  1": "b"}
    assert not ends_cue("BAD_blink", lookup) and not ends_cue("Bad Interval/Bad Min-Max", lookup)
    assert not ends_cue("Response/R  2", lookup) and not ends_cue("comment/note", lookup)
    for desc in ("boundary", "BAD boundary", "EDGE boundary", "New Segment/", "BAD_ACQ_SKIP", "rest", "T0",
                 "trial_end", "Response/R  1", "left", "Response", "Stimulus/S 10"):
        assert ends_cue(desc, lookup), desc  # a response the label map makes a cue is a cue
    events = [Event(10, 0, "left"), Event(20, 5, "BAD_blink"), Event(30, 0, "Response/R  2"), Event(40, 0, "rest"),
              Event(50, 0, "right"), Event(60, 0, "boundary"), Event(70, 0, "left"), Event(80, 0, "Comment/x")]
    spans = {(e.onset, e.description): e.duration for e in cue_spans(events, 100, lookup)}
    assert (spans[(10, "left")], spans[(50, "right")], spans[(70, "left")]) == (30, 10, 30)
