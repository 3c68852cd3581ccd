"""Blanks around the dash of a channel name do not change what it is: ``"A1 - A2"`` (the ear-to-ear derivation, as
some EDF exports and amplifiers write it) is the channel ``"A1-A2"``, kept as a name and never the electrode A1;
``"C3 - A2"`` and ``"EEG C3 - REF"`` are C3; ``"M1 - M2"`` is ``"M1-M2"``; a bipolar ``"C3 - C4"`` is ``"C3-C4"``.
Before the fix the derivations kept their blanks, so ``"A1 - A2"`` in one file and ``"A1-A2"`` in another (or in a
card) were two different channels to :func:`match_channels`."""

from __future__ import annotations

import pytest

from bci_stream.core.channels import ch_name_key, match_channels, normalise_ch_name


@pytest.mark.parametrize(("name", "normalised"), [
    ("A1 - A2", "A1-A2"), ("A1 -A2", "A1-A2"), ("A1-  A2", "A1-A2"), ("EEG A1 - A2", "A1-A2"), ("A2 - A1", "A2-A1"),
    ("M1 - M2", "M1-M2"), ("EEG M1 - M2", "M1-M2"), ("A1 - A1 + A2", "A1-A1+A2"), ("A1 - LE", "A1-LE"),
    ("C3 - C4", "C3-C4"), ("Fp1 - F7", "Fp1-F7"),
])
def test_a_derivation_with_blanks_around_the_dash_is_the_same_channel(name: str, normalised: str) -> None:
    assert normalise_ch_name(name) == normalised
    assert ch_name_key(name) == ch_name_key(normalised)
    assert match_channels([name], [normalised])[0] == [0] and match_channels([normalised], [name])[0] == [0]


@pytest.mark.parametrize("name", ["A1 - A2", "M1 - M2", "A2 - A1", "EEG A1 - A2"])
def test_an_ear_derivation_with_blanks_is_not_an_ear_electrode(name: str) -> None:
    assert ch_name_key(name) not in {ch_name_key(e) for e in ("A1", "A2", "M1", "M2")}
    assert match_channels([name], ["A1", "A2", "M1", "M2"])[0] == []


@pytest.mark.parametrize(("name", "normalised"), [
    ("C3 - A2", "C3"), ("EEG C3 - REF", "C3"), ("C3 - A1 + A2", "C3"), ("Cz - M1", "Cz"), ("A1 - REF", "A1"),
    ("EEG C3-REF", "C3"), ("C3-A2", "C3"),
])
def test_a_reference_suffix_with_blanks_is_still_dropped(name: str, normalised: str) -> None:
    assert normalise_ch_name(name) == normalised
