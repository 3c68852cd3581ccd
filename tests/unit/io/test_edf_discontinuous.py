"""EDF+D: a file whose data records are not back to back (a recording paused). mne reads it as if continuous, its
annotations placed by time, so an event after a pause landed late by the pause (one past the data's length in time
dropped as "outside data range") and nothing marked the jump (audit s69io F3). Now each event is placed on the
samples of the record that holds it and each jump is a 'record gap' event, a discontinuity (calibrate and evaluate
leave out the trials across it), said in a warning. Small EDF+D files written by the test EDF writer, read by mne."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bci_stream.io import Event, load_recording
from bci_stream.io.edf_discontinuous import RECORD_GAP
from bci_stream.io.errors import RecordingWarning
from bci_stream.train.classical.bad_spans import is_boundary
from support.edf import Signal, annotations, write_edf

SFREQ = 250


def write(path, onsets: list[float], cues: dict[float, str], plus: str = "EDF+D"):
    """Records of 1 s starting at ``onsets`` (seconds); ``cues``: onset -> name, each in the TAL of the record
    before or at it."""
    def tal(r: int) -> str:
        own = [t for t in cues if onsets[r] <= t < (onsets[r + 1] if r + 1 < len(onsets) else np.inf)]
        return f"+{onsets[r]:g}\x14\x14\x00" + "".join(f"+{t:g}\x14{cues[t]}\x14\x00" for t in own)

    eeg = Signal("C3", "uV", "-3276.8", "3276.7", SFREQ, np.zeros(SFREQ * len(onsets), np.int16))
    return write_edf(path, [eeg, annotations(60, tal)], len(onsets), plus=plus)


def test_events_after_a_pause_are_on_the_samples_of_their_records_and_the_jump_is_marked(tmp_path):
    path = write(tmp_path / "d.edf", [0, 1, 2, 3.5, 4.5, 13.5], {0.5: "a", 3.2: "in pause", 4.0: "b", 13.75: "c"})
    with pytest.warns(RecordingWarning, match="d.edf: a discontinuous file \\(EDF\\+D/BDF\\+D\\) whose records are not "
                      "back to back: 2 jump\\(s\\) of \\+0.5, \\+8 s, the first at t=3 s of its data; .* \\(1 in a "
                      "pause, at the next record's start; 0 after its data, left out\\)") as said:
        rec = load_recording(path)
    assert not [w for w in said if "outside data range" in str(w.message)]  # mne's, of 'c': placed here instead
    assert rec.n_times == 6 * SFREQ
    assert rec.events == [Event(125, 0, "a"), Event(750, 0, RECORD_GAP), Event(750, 0, "in pause"),
                          Event(875, 0, "b"), Event(1250, 0, RECORD_GAP), Event(1312, 0, "c")]
    assert is_boundary(RECORD_GAP)


def test_an_edf_d_whose_records_are_back_to_back_reads_as_continuous(tmp_path):
    path = write(tmp_path / "c.edf", [0, 1, 2, 3], {0.5: "a", 2.5: "b"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordingWarning)
        rec = load_recording(path)
    assert rec.events == [Event(125, 0, "a"), Event(625, 0, "b")]
