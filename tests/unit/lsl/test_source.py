"""Stream selection and validation against a model card (real StreamInfo objects)."""

from __future__ import annotations

import numpy as np
import pylsl
import pytest

from bci_stream.core.errors import StreamMismatchError
from bci_stream.core.registry import ModelRegistry
from bci_stream.lsl.info import make_stream_info
from bci_stream.lsl.source import build_predicate, channel_indices, check_stream
from support.common import TINY_CH_NAMES


@pytest.fixture(scope="module")
def card(models_dir):
    return ModelRegistry(models_dir).get("tiny-gru").card


def test_predicate_quotes_any_name():
    assert build_predicate(name="eeg") == "name='eeg'"
    assert build_predicate(name="it's", stype="EEG") == "name=\"it's\" and type='EEG'"
    assert build_predicate(source_id="a'b\"c") == "source_id=concat('a', \"'\", 'b\"c')"
    with pytest.raises(ValueError, match="stream selector must give at least one of name, type, source_id, hostname"):
        build_predicate()


def test_same_order_needs_no_map(card):
    assert channel_indices(TINY_CH_NAMES, 8, card) is None
    assert channel_indices(None, 8, card) is None


def test_reordered_extra_and_differently_written_labels_are_mapped(card):
    stream = ["AUX1", "eeg pz", "CP4", "cp3.", "C4", "Cz", "C3", "FC4", "FC3", "Trigger"]
    idx = channel_indices(stream, len(stream), card)
    assert [stream[i] for i in idx] == ["FC3", "FC4", "C3", "Cz", "C4", "cp3.", "CP4", "eeg pz"]


def test_missing_channels_are_named(card):
    with pytest.raises(StreamMismatchError) as err:
        channel_indices(["FC3", "FC4", "C3", "Cz", "C4", "CP3", "O1", "O2"], 8, card, "amp")
    assert str(err.value) == (
        "stream 'amp' lacks 2 of the 8 channels model 'tiny-gru@1.0.0' needs: CP4, Pz "
        "(stream has 8 channels: FC3, FC4, C3, Cz, C4, CP3, O1, O2)"
    )


def test_ambiguous_label_is_refused(card):
    with pytest.raises(StreamMismatchError) as err:
        channel_indices(["fc3", "FC3.", *TINY_CH_NAMES[1:]], 9, card, "amp")
    assert str(err.value) == ("model channel 'FC3' of model 'tiny-gru@1.0.0' matches several channels of stream "
                              "'amp': ['fc3', 'FC3.']; label each channel once")


def test_check_stream_rate_and_format(card):
    ok = make_stream_info("s", "EEG", TINY_CH_NAMES, 500.0, "sid")
    assert check_stream(ok, card) is None
    irregular = make_stream_info("s", "EEG", TINY_CH_NAMES, pylsl.IRREGULAR_RATE, "sid")
    with pytest.raises(StreamMismatchError, match=r"stream 's' has an irregular rate \(nominal_srate 0\); model "
                       "'tiny-gru@1.0.0' needs sfreq=500 Hz"):
        check_stream(irregular, card)
    for declared, shown in ((500.0006, "500.0006"), (499.9994, "499.9994")):  # a measured rate: shown, the rule said
        near = make_stream_info("s", "EEG", TINY_CH_NAMES, declared, "sid")
        with pytest.raises(StreamMismatchError) as err:
            check_stream(near, card)
        assert str(err.value) == (f"stream 's' has sfreq={shown} Hz; model 'tiny-gru@1.0.0' needs sfreq=500 Hz; the "
                                  "two must be equal to a relative 1e-6 (nothing is resampled): declare the "
                                  "amplifier's nominal rate, not a measured one"), err.value
    assert check_stream(make_stream_info("s", "EEG", TINY_CH_NAMES, 500.0004, "sid"), card) is None  # within 1e-6
    strings = make_stream_info("s", "EEG", TINY_CH_NAMES, 500.0, "sid", channel_format="string")
    with pytest.raises(StreamMismatchError) as err:
        check_stream(strings, card)
    assert str(err.value) == ("stream 's' has channel format string; model 'tiny-gru@1.0.0' needs a numeric format "
                              "(float32, double64, int8, int16, int32 or int64)")
    int16 = make_stream_info("s", "EEG", TINY_CH_NAMES, 500.0, "sid", channel_format="int16")
    assert check_stream(int16, card) is None


def test_metrics_percentiles():
    from bci_stream.service.metrics import LatencyHistogram, summarise

    h = LatencyHistogram()
    values = np.random.default_rng(0).lognormal(np.log(1e-3), 0.5, 20000)
    h.observe_many(values)
    h.observe(0.5)
    s = summarise(h.to_dict())
    assert s["count"] == 20001 and s["max"] == pytest.approx(500.0)
    for q in (50, 90, 99):
        exact = np.percentile(values, q) * 1e3
        assert abs(s[f"p{q}"] - exact) / exact < 0.15  # within the bucket resolution (8 per decade)
    assert summarise(LatencyHistogram().to_dict())["p50"] is None


def test_numbered_channels_are_told_how_to_be_read(card):
    """An amplifier app that labels its channels by number (``EEG 001``...): the error said only which channels were
    lacking (an audit); it now says no label is a position, and the two cures."""
    numbered = [f"EEG {i:03d}" for i in range(1, 9)]
    with pytest.raises(StreamMismatchError) as err:
        channel_indices(numbered, 8, card, "amp")
    assert str(err.value) == (
        "stream 'amp' lacks 8 of the 8 channels model 'tiny-gru@1.0.0' needs: FC3, FC4, C3, Cz, C4, CP3, CP4, Pz "
        "(stream has 8 channels: EEG 001, EEG 002, EEG 003, EEG 004, EEG 005, EEG 006, EEG 007, EEG 008); no label "
        "of the stream names an electrode position (numbered channels?): label its channels with their positions "
        "in the sender (desc/channels/channel/label); or, when its channels are in the model's order, send no "
        "labels at all (a stream without labels is read in the model's order)")
    with pytest.raises(StreamMismatchError) as err:
        channel_indices(["1", "2", "3", "TRIGGER", "5", "6", "7", "8", "9"], 9, card, "amp")
    assert str(err.value).endswith("label its channels with their positions in the sender "
                                   "(desc/channels/channel/label)")  # another count: labels are the only cure
    assert channel_indices([None] * 8, 8, card, "amp") is None  # no labels: the model's order
    for labels in ([f"Ch{i}" for i in range(1, 9)], [f"CH{i:02d}" for i in range(1, 9)], [f"E{i}" for i in range(8)]):
        with pytest.raises(StreamMismatchError, match="no label of the stream names an electrode position"):
            channel_indices(labels, 8, card, "amp")  # numbers a 10-10 pattern would take for names (review)
    with pytest.raises(StreamMismatchError) as err:
        channel_indices(["Fp1", "Fp2", "F7", "F8", "O1", "O2", "T7", "T8"], 8, card, "amp")
    assert "electrode position" not in str(err.value)  # positions, just not the model's
