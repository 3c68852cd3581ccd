"""A stream ``desc`` that labels (or gives units to) only some channels: kept per channel, never ignored.

Real ``pylsl.StreamInfo`` objects; the decoding through real outlets and inlets is in
``tests/integration/test_partial_desc.py``.
"""

from __future__ import annotations

import numpy as np
import pylsl
import pytest

from bci_stream.core.errors import StreamMismatchError
from bci_stream.core.registry import ModelRegistry
from bci_stream.lsl.info import read_ch_names, read_labels
from bci_stream.lsl.source import channel_indices, check_stream, label_report
from bci_stream.lsl.units import read_units, unit_scale
from support.common import TINY_CH_NAMES, TINY_SFREQ

PERM = [5, 2, 7, 0, 3, 6, 1, 4]  # stream channel i carries model channel PERM[i]


@pytest.fixture(scope="module")
def card(models_dir):
    return ModelRegistry(models_dir).get("tiny-gru").card


def desc_info(name: str, n_chans: int, entries: list[tuple[str | None, str | None]]) -> pylsl.StreamInfo:
    """A stream of ``n_chans`` channels whose desc lists ``entries`` (label, unit); None leaves that field out."""
    info = pylsl.StreamInfo(name, "EEG", n_chans, TINY_SFREQ, "float32", f"{name}-src")
    channels = info.desc().append_child("channels")
    for label, unit in entries:
        ch = channels.append_child("channel")
        if label is not None:
            ch.append_child_value("label", label)
        if unit is not None:
            ch.append_child_value("unit", unit)
        ch.append_child_value("type", "EEG")
    return info


def test_labels_are_kept_per_channel_when_one_is_blank_or_the_desc_is_short():
    info = desc_info("s", 4, [("C3", "uV"), ("", "uV"), ("  ", None)])
    assert read_labels(info) == ["C3", None, None, None]
    assert read_units(info) == ["uV", "uV", None, None]
    assert read_ch_names(info) is None  # all labels or none, as before
    assert label_report(read_labels(info)) == {"labelled": 1, "unlabelled": [1, 2, 3], "order_assumed": False}
    assert label_report([None, None]) == {"labelled": 0, "unlabelled": [0, 1], "order_assumed": True}


def test_more_desc_entries_than_channels_is_an_error():
    info = desc_info("s", 2, [("C3", "uV"), ("C4", "uV"), ("Cz", "uV")])
    with pytest.raises(StreamMismatchError, match=r"stream 's' desc/channels lists 3 channel entries \(their labels\) "
                                                  r"for its 2 channels"):
        read_labels(info)
    with pytest.raises(StreamMismatchError, match=r"lists 3 channel entries \(their units\) for its 2 channels"):
        read_units(info)


def test_shuffled_labels_with_an_unlabelled_extra_channel_are_mapped(card):
    labels = [TINY_CH_NAMES[p] for p in PERM] + [None]  # channel 8: an aux channel the desc leaves out
    idx = channel_indices(labels, 9, card, "s")
    assert [labels[i] for i in idx] == TINY_CH_NAMES
    assert idx.tolist() == [PERM.index(k) for k in range(8)]


def test_a_blank_label_on_a_model_channel_is_refused_naming_it(card):
    labels: list[str | None] = [TINY_CH_NAMES[p] for p in PERM]
    labels[5] = None  # carries CP4
    with pytest.raises(StreamMismatchError) as err:
        channel_indices(labels, 8, card, "s")
    assert str(err.value) == (
        "stream 's' desc labels only 7 of its 8 channels (unlabelled: channel 5, counting from 0); 1 of the 8 "
        "channels model 'tiny-gru@1.0.0' needs are not among the labelled ones: CP4. Label every channel in "
        "desc/channels/channel/label (the service does not guess which unlabelled channel is which)")


def test_a_short_desc_is_padded_and_refused_when_the_model_needs_the_rest(card):
    info = desc_info("v7", 8, [(ch, "V") for ch in TINY_CH_NAMES[:7]])
    with pytest.raises(StreamMismatchError, match=r"stream 'v7' desc labels only 7 of its 8 channels \(unlabelled: "
                                                  r"channel 7, counting from 0\); 1 of the 8 .* labelled ones: Pz\."):
        check_stream(info, card)


def test_full_and_empty_desc_behave_as_before(card):
    assert channel_indices(TINY_CH_NAMES, 8, card, "s") is None
    assert channel_indices(None, 8, card, "s") is None
    assert channel_indices([None] * 8, 8, card, "s") is None
    with pytest.raises(StreamMismatchError, match=r"^stream 's' has 9 channels and no channel labels; model"):
        channel_indices([None] * 9, 9, card, "s")
    assert check_stream(desc_info("s", 8, [(None, "uV")] * 8), card) is None


def test_units_of_every_used_channel_scale_per_channel(card):
    """The unlabelled extra channel has no unit: not used, so no matter; the used ones in V and mV."""
    entries = [(TINY_CH_NAMES[p], "V" if p % 2 else "mV") for p in PERM]
    info = desc_info("s", 9, entries)
    idx = check_stream(info, card)
    units = unit_scale(info, idx, card.ch_names, card.unit, None)
    assert not units.assumed
    np.testing.assert_allclose(units.scale, [1e6 if k % 2 else 1e3 for k in range(8)])


def test_a_used_channel_without_a_unit_among_channels_with_units_is_refused(card):
    entries: list[tuple[str | None, str | None]] = [(ch, "V") for ch in TINY_CH_NAMES]
    entries[3] = ("Cz", None)
    info = desc_info("s", 8, entries)
    with pytest.raises(StreamMismatchError) as err:
        unit_scale(info, check_stream(info, card), card.ch_names, card.unit, "V")
    assert str(err.value) == (
        "stream 's' desc gives a unit for only 7 of its 8 channels ('V'), and none for 1 channel(s) the model "
        "uses: 'Cz' (stream channel 3). Partial units are not guessed (nor is input_unit applied to them): give "
        "every channel its unit in desc/channels/channel/unit, or none at all")


def test_units_without_labels_are_read_by_position(card):
    """No label at all: the model's order is assumed (as before); the units the desc gives still count."""
    info = desc_info("s", 8, [(None, "V")] * 7)
    assert check_stream(info, card) is None
    with pytest.raises(StreamMismatchError, match=r"unit for only 7 of its 8 channels .* 'Pz' \(stream channel 7\)"):
        unit_scale(info, None, card.ch_names, card.unit, None)
    full = desc_info("s", 8, [(None, "V")] * 8)
    assert unit_scale(full, None, card.ch_names, card.unit, None).describe() == {
        "input": "V", "assumed": False, "scale": pytest.approx(1e6)}
    none = desc_info("s", 8, [(ch, None) for ch in TINY_CH_NAMES])
    assert unit_scale(none, None, card.ch_names, card.unit, "mV").describe() == {
        "input": "mV", "assumed": True, "scale": pytest.approx(1e3)}


def test_entries_named_by_name_are_read_by_it_and_an_assumed_order_is_warned_about() -> None:
    """Audit s42 (amplifiers): a sender writing ``desc/channels/channel/name`` (no ``label``) in its own order was
    read in the model's order, its channels swapped, with only ``order_assumed: true`` to say so."""
    info = pylsl.StreamInfo("named", "EEG", 3, 160.0, "float32", "named-src")
    channels = info.desc().append_child("channels")
    for name in ("Cz", "C4", "C3"):
        channels.append_child("channel").append_child_value("name", name).append_child_value("unit", "uV")
    assert read_labels(info) == ["Cz", "C4", "C3"]
    report = label_report([None, None, None], ["C3", "Cz", "C4"])
    assert report["order_assumed"] and report["warning"].startswith(
        "the stream labels none of its 3 channels (desc/channels/channel/label): they are read in the model's order "
        "(C3, Cz, C4), unchecked"), report
    assert "warning" not in label_report(["C3", None, "C4"], ["C3", "C4"])  # labelled: matched by label


def test_a_bank_labelled_stream_is_not_read_as_10_10_positions(card):
    """A BioSemi 128-channel stream (``A1`` ... ``D32``) holds labels ``C1`` ... ``C6`` (bank C's first channels,
    right frontal): a model of the 10-10 ``C1`` ... ``C6`` found them by name and decoded frontal electrodes as the
    C row (audit s46). Refused, naming both; a model calibrated on the bank labels is mapped as before."""
    banks = [f"{b}{i}" for b in "ABCD" for i in range(1, 33)]
    row = card.model_copy(update={"ch_names": ["C1", "C2", "C3", "C4", "C5", "C6"], "n_chans": 6})
    with pytest.raises(StreamMismatchError) as err:
        channel_indices(banks, 128, row, "bs")
    assert str(err.value).startswith("the labels of stream 'bs' are BioSemi bank labels (A1, A2, A3 ...), not "
                                     "electrode positions; model 'tiny-gru@1.0.0' reads 10-10 positions, and its C1, "
                                     "C2, C3, C4, C5, C6 match bank labels by name only"), err.value
    own = card.model_copy(update={"ch_names": ["C1", "C2", "C17", "D5", "A30", "B2"], "n_chans": 6})
    assert [banks[i] for i in channel_indices(banks, 128, own, "bs")] == ["C1", "C2", "C17", "D5", "A30", "B2"]
