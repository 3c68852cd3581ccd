"""Unit options the status must not hide: a given input_unit the stream's own units override, a declared unit that
says there is none, mne-lsl's power of ten on a non-voltage channel type, and the scale's float noise."""

from __future__ import annotations

import pytest

from bci_stream.core.errors import StreamMismatchError
from bci_stream.core.registry import ModelRegistry
from bci_stream.lsl.info import make_stream_info
from bci_stream.lsl.units import read_units, unit_scale
from support.common import TINY_CH_NAMES, TINY_SFREQ


@pytest.fixture(scope="module")
def card(models_dir):
    return ModelRegistry(models_dir).get("tiny-gru").card


def info(unit="uV", ch_type="EEG"):
    return make_stream_info("s", "EEG", TINY_CH_NAMES, TINY_SFREQ, "sid", unit=unit, ch_type=ch_type)


def scale_of(card, unit, input_unit=None):
    return unit_scale(info(unit), None, card.ch_names, card.unit, input_unit)


def test_input_unit_overridden_by_declared_units_is_noted(card):
    desc = scale_of(card, "uV", "V").describe()
    assert desc["input"] == "uV" and desc["scale"] == 1.0 and not desc["assumed"]
    assert desc["note"] == ("options.input_unit 'V' is not used: the stream's desc declares its channels' units (uV); "
                            "input_unit applies only to a stream that declares none")
    assert "note" not in scale_of(card, "uV", "microvolts").describe()  # the same unit: nothing to say
    assert "note" not in scale_of(card, "", "V").describe()  # used: the stream declares none


@pytest.mark.parametrize("unit", ["none", "n/a", "N/A", "unknown", " "])
def test_a_unit_saying_none_is_no_unit(card, unit):
    assert read_units(info(unit)) == [None] * 8
    desc = scale_of(card, unit, "V").describe()
    assert desc == {"input": "V", "assumed": True, "scale": 1e6}


def test_power_of_ten_on_a_misc_channel_says_why(card):
    assert scale_of(card, "-6").describe()["input"] == "uV"  # type EEG: mne-lsl's µV
    with pytest.raises(StreamMismatchError) as exc:
        unit_scale(info("-6", "misc"), None, card.ch_names, card.unit, None)
    assert str(exc.value) == (
        "channel 'FC3' of stream 's' has unit '-6', which cannot be converted to the model's 'microvolts' (known: "
        "V, mV, uV/µV, nV and their names). A power of ten (mne-lsl's unit_mul) is read as a unit only on a voltage "
        "channel type (bio, dbs, ecg, ecog, eeg, emg, eog, seeg); this channel's type is 'misc'")
    with pytest.raises(StreamMismatchError, match=r"\(known: V, mV, uV/µV, nV and their names\)$"):
        scale_of(card, "counts")  # not a power of ten: no hint


def test_scale_is_rounded_in_the_status(card):
    assert scale_of(card, "mV").describe()["scale"] == 1000.0
    units = ["mV"] * 7 + ["nV"]
    mixed = unit_scale(make_stream_info("s", "EEG", TINY_CH_NAMES, TINY_SFREQ, "sid", unit=units), None,
                       card.ch_names, card.unit, None).describe()
    assert mixed["scale"] == [1000.0] * 7 + [0.001]
