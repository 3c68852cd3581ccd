"""Which channels calibrate takes for the 10-10 sensorimotor rows, and what it says of them (audit s46 of labs with
other amplifiers).

* A BioSemi cap of 128 or more channels is labelled by banks, ``A1`` ... ``D32``: its ``C1`` ... ``C6`` (bank C's
  first channels, right frontal) were taken for the 10-10 C row, so half of calibrate's candidates, and of the
  average it ships, read six frontal electrodes, and nothing said so. Now no bank label is a position, and the note
  says to name the channels.
* OpenBCI's ``EXG Channel 0`` ... and EGI's ``E1`` ... are numbers, as BCI IV 2a's ``EEG-0`` are: the note says to
  name them with --channel-names (it said only "pass --channels", which cannot help when no label is a position).
* When channels are picked, the note says which and how many (before, only the candidate tables' ``ch=sensorimotor``
  told).

The montages' names are MNE's (``biosemi128``, ``GSN-HydroCel-128``, ``biosemi64``, ``standard_1005``).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bci_stream.core.channels import bank_labelled
from bci_stream.train.classical.calibration import candidates
from bci_stream.train.classical.data import channel_pick_note, sensorimotor_channels

mne = pytest.importorskip("mne", reason="the montages' channel names are MNE's (train extra)")


def names(montage: str) -> list[str]:
    return list(mne.channels.make_standard_montage(montage).ch_names)


@pytest.mark.parametrize("montage", ["biosemi128", "biosemi160", "biosemi256"])
def test_a_bank_labelled_cap_has_no_sensorimotor_channels_and_is_told_to_name_them(montage: str) -> None:
    chans = names(montage)
    assert bank_labelled(chans) and {"C1", "C2", "C3", "C4", "C5", "C6"} <= set(chans)
    assert sensorimotor_channels(chans) is None
    cands = candidates(SimpleNamespace(ch_names=chans, sfreq=512.0), "csp_lda", channels_fixed=False)
    assert {c.channels for c in cands} == {"all"}
    note = channel_pick_note(chans, renamed=False)
    assert "the names are BioSemi bank labels (A1, A2, A3 ...)" in note and "--channel-names" in note, note


@pytest.mark.parametrize("chans, shown", [
    ([f"EXG Channel {i}" for i in range(8)], "EXG Channel 0, EXG Channel 1, EXG Channel 2 ..."),
    (None, "E1, E2, E3 ..."),  # EGI's GSN-HydroCel-128
])
def test_numbered_labels_are_told_to_be_named(chans, shown: str) -> None:
    chans = chans or names("GSN-HydroCel-128")
    assert not bank_labelled(chans) and sensorimotor_channels(chans) is None
    note = channel_pick_note(chans, renamed=False)
    assert f"of them are only numbered ({shown}" in note and "with --channel-names" in note, note
    assert "--channel-names" not in channel_pick_note(chans, renamed=True)  # named already: no such hint


@pytest.mark.parametrize("montage, n_picked", [("biosemi64", 21), ("biosemi32", 11)])
def test_ten_ten_names_of_a_biosemi_cap_below_128_channels_are_still_positions(montage: str, n_picked: int) -> None:
    chans = names(montage)
    assert not bank_labelled(chans) and len(sensorimotor_channels(chans)) == n_picked
    note = channel_pick_note(chans, renamed=False)
    assert note.startswith(f"sensorimotor channels picked by name: {n_picked} of the {len(chans)} channels are on "
                           "the 10-10 FC/C/CP rows ("), note
    assert f"half all {len(chans)} (ch=all)" in note


def test_a_cap_of_only_sensorimotor_channels_says_so() -> None:
    chans = ["FC3", "FC4", "C3", "Cz", "C4", "CP3", "CP4", "C1"]
    assert channel_pick_note(chans, renamed=False) == ("every one of the 8 channels is on the 10-10 FC/C/CP rows: the "
                                                       "candidates use all of them")
