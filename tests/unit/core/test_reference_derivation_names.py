"""A derivation between two reference electrodes (``A1-A2``, the ear-to-ear channel; ``M1-M2``, ``A2-A1``) is kept as
it is, not read as the electrode ``A1`` / ``M1``, while ``C3-A1A2``, ``C3-M1+M2``, ``C3-REF`` and ``A1-REF`` still
drop their reference suffix. The file path (``load_recording(ch_names=...)``) and the stream path (a real pylsl
outlet's ``desc`` labels checked against a card: :func:`bci_stream.lsl.source.check_stream`) read names by the same
rule. File: the repository's S001R05 EDF subset (21 channels) written by mne as a FIF with two channels renamed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pylsl
import pytest

from bci_stream.core.card import ModelCard
from bci_stream.core.channels import ch_name_key, match_channels, normalise_ch_name
from bci_stream.core.errors import ChannelError
from bci_stream.io import load_recording
from bci_stream.lsl.info import make_stream_info
from bci_stream.lsl.source import StreamMismatchError, check_stream
from support.common import REPO, SUBSET_S001_21CH, subset_file, unique

mne = pytest.importorskip("mne")

R05 = SUBSET_S001_21CH / "S001R05.edf"
GRU_CARD = REPO / "models" / "eegmmidb-s001-gru" / "model.json"  # 21 channels at 160 Hz


@pytest.mark.parametrize("name", ["A1-A2", "A2-A1", "M1-M2", "M2-M1", "A1-M2", "EEG A1-A2", "a1-a2", "A1-A1A2"])
def test_a_derivation_between_reference_electrodes_is_kept(name: str) -> None:
    kept = name.removeprefix("EEG ")
    assert normalise_ch_name(name) == kept
    assert ch_name_key(name) not in (ch_name_key("A1"), ch_name_key("A2"), ch_name_key("M1"), ch_name_key("M2"))
    assert match_channels([name], ["A1", "A2", "M1", "M2"])[0] == []


@pytest.mark.parametrize(("name", "key"), [("C3-A1A2", "C3"), ("C3-M1+M2", "C3"), ("C3-REF", "C3"), ("C3-C4", "C3-C4"),
                                           ("A1-REF", "A1"), ("A1 REF", "A1"), ("M2-AVG", "M2"), ("Cz-M1", "Cz")])
def test_reference_suffixes_of_other_channels_are_still_dropped(name: str, key: str) -> None:
    assert normalise_ch_name(name) == key


def _fif_with(tmp_path: Path, renames: dict[str, str]) -> Path:
    raw = mne.io.read_raw_edf(subset_file(R05), preload=True, verbose="error")
    raw.rename_channels(renames)
    path = tmp_path / "r05_raw.fif"
    raw.save(path, verbose="error")
    return path


def test_a_file_reads_a1_a2_as_itself_not_as_a1(tmp_path: Path) -> None:
    path = _fif_with(tmp_path, {"Fc5.": "A1-A2", "C3..": "C3-A1A2"})
    with pytest.raises(ChannelError, match="A1"):
        load_recording(path, ch_names=["A1", "C3"])
    rec = load_recording(path, ch_names=["C3", "A1-A2"])
    assert rec.ch_names == ["C3-A1A2", "A1-A2"]


def _card(ch_names: list[str]) -> ModelCard:
    card = ModelCard.model_validate_json(GRU_CARD.read_text())
    assert card.n_chans == len(ch_names)
    return card.model_copy(update={"ch_names": ch_names})


def test_a_stream_reads_a1_a2_by_the_same_rule() -> None:
    card = ModelCard.model_validate_json(GRU_CARD.read_text())
    stream = ["A1-A2", *[f"{n}-A1A2" for n in card.ch_names]]  # the ear-to-ear channel first, then the model's
    name = unique("eartoear")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", stream, card.sfreq, f"{name}-src"))
    try:
        found = pylsl.resolve_bypred(f"name='{name}'", 1, 10.0)
        info = pylsl.StreamInlet(found[0]).info(timeout=10.0)
        assert check_stream(info, card).tolist() == list(range(1, len(stream)))  # C3-A1A2 is C3
        wants_a1 = _card(["A1", *card.ch_names[1:]])
        with pytest.raises(StreamMismatchError, match=r"lacks 1 of the 21 channels .*: A1 "):
            check_stream(info, wants_a1)  # A1-A2 is not the electrode A1
        wants_derivation = _card(["A1-A2", *card.ch_names[1:]])
        assert np.array_equal(check_stream(info, wants_derivation), [0, *range(2, len(stream))])
    finally:
        del outlet
