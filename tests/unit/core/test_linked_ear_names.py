"""Reference suffixes of linked ears / mastoids and numbered references (clinical EDF exports: Nihon Kohden, some
Natus/Compumedics montages) are dropped like ``-REF``: ``C3-A1A2``, ``C3-A1+A2``, ``C3-M1M2``, ``C3-M1+M2``,
``C3-REF1``, ``C3 REF`` have the key of ``C3``, so a model with ``C3`` reads such a file or stream and the other way
round; a bipolar pair (``C3-C4``, ``C3-Cz``, ``Fp1-F7``) is kept (audit F, D4)."""

from __future__ import annotations

import numpy as np
import pytest

from bci_stream.core.channels import ch_name_key, match_channels, normalise_ch_name, pick_channels

LINKED = ["EEG C3-A1A2", "C3-A1+A2", "C3-A1 + A2", "C3-M1M2", "C3-M1+M2", "c3-m1m2", "C3-REF1", "C3-Ref2",
          "C3 REF", "EEG C3 Ref", "C3..-A1A2"]


@pytest.mark.parametrize("name", LINKED)
def test_a_linked_or_numbered_reference_suffix_is_dropped(name: str) -> None:
    assert normalise_ch_name(name) == "C3"
    assert ch_name_key(name) == ch_name_key("C3")


@pytest.mark.parametrize("name", ["C3-C4", "C3-Cz", "Fp1-F7", "T3-T5", "EOG REF", "EOG-A1A2", "STI 014", "C3-A2A3"])
def test_bipolar_pairs_and_names_that_are_no_position_are_kept(name: str) -> None:
    assert normalise_ch_name(name) == name


def test_a_model_channel_is_picked_from_a_file_with_linked_ear_names() -> None:
    names = ["Fp1-F7", "C4-A1+A2", "C3-A1A2", "Cz-M1M2", "C3-C4"]
    data = np.arange(len(names) * 4, dtype=float).reshape(len(names), 4)
    picked, got = pick_channels(data, names, ["C3", "Cz", "C4"])
    assert got == ["C3-A1A2", "Cz-M1M2", "C4-A1+A2"]
    np.testing.assert_array_equal(picked, data[[2, 3, 1]])
    idx, missing, _ = match_channels(["C3", "Cz", "C4"], ["C3 REF", "Cz-REF1", "C4-M1+M2"])  # a model of such names
    assert (idx, missing) == ([0, 1, 2], [])
