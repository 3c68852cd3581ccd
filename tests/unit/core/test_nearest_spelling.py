"""A model channel named the EDF way (``C3..``, EEGMMIDB's and the bundled model's) on a stream with both ``C3`` and a
typed ``EEG C3``: the one spelled as the model's name but for dots and case is read, as the exact name is for a model
channel ``C3`` (audit s58live F2: the decoder was refused, "matches several channels"); the other is noted as passed
over. Two equally near spellings stay ambiguous."""

from __future__ import annotations

from bci_stream.core.channels import match_channels, match_note


def test_the_nearest_spelling_is_read_and_the_other_noted() -> None:
    stream = ["EEG C3", "C3", "Cz", "c4", "EEG C4"]
    idx, missing, ambiguous = match_channels(stream, ["C3..", "Cz..", "C4.."])
    assert (idx, missing, ambiguous) == ([1, 2, 3], [], {})
    note = match_note(stream, ["C3..", "Cz..", "C4.."])
    assert note is not None and "'EEG C3'" in note and "'EEG C4'" in note, note


def test_two_equally_near_spellings_stay_ambiguous() -> None:
    assert match_channels(["c3", "C3", "Cz"], ["C3.."])[2] == {"C3..": ["c3", "C3"]}
    assert match_channels(["EEG C3", "EEG-C3"], ["C3.."])[2] == {"C3..": ["EEG C3", "EEG-C3"]}
