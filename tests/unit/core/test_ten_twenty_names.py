"""10-20's T3/T4/T5/T6 are 10-10's T7/T8/P7/P8 (the same scalp positions): a model channel is read from its renamed
twin when its own name is absent and exactly one twin is there; with both names the exact one wins. How channels
were matched, and a stream channel passed over though named like a used one (``EEG C3`` beside ``C3``), is noted."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from bci_stream.core.channels import TEN_TWENTY_RENAMED, match_channels, match_note, pick_channels, renamed_hint
from bci_stream.core.errors import ChannelError, StreamMismatchError
from bci_stream.lsl.source import channel_indices, label_report

TEN_TEN = ["C3", "Cz", "C4", "T7", "T8", "P7", "P8"]
CARD = SimpleNamespace(ch_names=TEN_TEN, n_chans=len(TEN_TEN), ref="m@1")


@pytest.mark.filterwarnings("ignore:Montage name 'standard_1005' is deprecated:FutureWarning")
def test_the_renamed_pairs_are_one_position_in_mne_standard_1005():
    mne = pytest.importorskip("mne")
    pos = mne.channels.make_standard_montage("standard_1005").get_positions()["ch_pos"]
    for old, new in TEN_TWENTY_RENAMED.items():
        np.testing.assert_array_equal(pos[old], pos[new])


def test_a_stream_with_10_20_names_feeds_a_10_10_model_and_says_so():
    stream = ["C3", "Cz", "C4", "T3", "T4", "T5", "T6"]
    idx = channel_indices(stream, len(stream), CARD, "s")
    assert idx is None  # the same order: T7 <- T3, T8 <- T4, P7 <- T5, P8 <- T6
    assert label_report(stream, TEN_TEN)["note"] == (
        "model channels read under their other name (T3, T4, T5, T6 of 10-20 are T7, T8, P7, P8 of 10-10): "
        "T7 = 'T3', T8 = 'T4', P7 = 'T5', P8 = 'T6'")
    assert "note" not in label_report(TEN_TEN, TEN_TEN) and "note" not in label_report(stream)
    # the reverse: a 10-20 model on a 10-10 stream, prefixes and case as elsewhere
    assert match_channels(["eeg t7", "Cz"], ["Cz", "T3"]) == ([1, 0], [], {})


def test_both_names_in_the_stream_map_by_the_exact_one_and_the_other_is_noted():
    stream = ["T3", "C3", "Cz", "C4", "T7", "T4", "T8", "P7", "P8", "T5", "T6"]
    idx = channel_indices(stream, len(stream), CARD, "s")
    assert [stream[i] for i in idx] == TEN_TEN  # T3..T6 are left alone
    note = label_report(stream, TEN_TEN)["note"]
    assert note.startswith("stream channels not used though named like a used one: 'T3' (model channel 'T7' reads "
                           "'T7'), 'T4' (model channel 'T8' reads 'T8')")


def test_two_twins_are_ambiguous():
    with pytest.raises(StreamMismatchError, match=r"model channel 'T7' .* matches several channels .*'T3', 'EEG T3'"):
        channel_indices(["T3", "EEG T3", "C3"], 3, SimpleNamespace(ch_names=["T7", "C3"], n_chans=2, ref="m@1"))


def test_a_model_naming_both_does_not_read_one_for_the_other():
    both = ["T3", "T7"]
    assert match_channels(["T3", "Cz"], both) == ([0], ["T7"], {})
    assert "T3 is the other name of T7" in renamed_hint(["T7"], ["T3", None])
    with pytest.raises(ChannelError, match=r"T5 is the other name of P7 .* model also names"):
        pick_channels(np.zeros((2, 4)), ["C3", "T5"], ["C3", "P7", "T5"])


def test_the_hint_gives_the_true_reason_a_renamed_channel_was_not_read():
    """Review 2, finding 1: a stream mixing both systems was told the model names both; an sEEG contact gets no
    hint at all (it is not the other name of anything)."""
    with pytest.raises(StreamMismatchError, match=r"T3 is the other name of T7 .*not read for it: stream also uses "
                                                  r"T8, of the same system as T7"):
        channel_indices(["T3", "C3", "T8"], 3, SimpleNamespace(ch_names=["T7", "C3", "T8"], n_chans=3, ref="m@1"))
    with pytest.raises(StreamMismatchError) as err:
        channel_indices(["T3", "C3", "T4"], 3, SimpleNamespace(ch_names=["T7", "C3", "T8"], n_chans=3, ref="m@1"),
                        "s", ["seeg"] * 3)
    assert "other name" not in str(err.value)


def test_a_typed_label_beside_the_raw_one_is_noted_as_not_used():
    """Some apps send the raw label and a typed one (``C3`` and ``EEG C3``): the exact one is read, the other named."""
    stream = ["EEG C3", "C3", "Cz", "EEG Cz"]
    assert match_channels(stream, ["C3", "Cz"]) == ([1, 2], [], {})
    assert match_note(stream, ["C3", "Cz"]) == (
        "stream channels not used though named like a used one: 'EEG C3' (model channel 'C3' reads 'C3'), "
        "'EEG Cz' (model channel 'Cz' reads 'Cz')")
    assert match_channels(stream, ["EEG C3"]) == ([0], [], {})  # a model trained on the typed label reads it
    assert match_note(stream, ["EEG C3"]).endswith("'C3' (model channel 'EEG C3' reads 'EEG C3')")
    assert match_note(stream, ["C3", "EEG C3"]) is None  # both used
    assert match_note(["c3", "C4"], ["C3", "C4"]) is None  # matched by key, nothing passed over


def test_seeg_contacts_are_not_read_under_a_scalp_name():
    """sEEG contacts are named by shaft and number: a model of shaft P lacking P7/P8 must not read contacts 5 and 6
    of shaft T. A stream that uses a 10-10 name of the renamed positions (T7) is not a 10-20 montage; a channel
    whose desc type is not EEG (seeg) is never renamed."""
    stream = [f"T{i}" for i in range(1, 9)] + [f"P{i}" for i in range(1, 7)]  # P7, P8 not sent
    model = [f"P{i}" for i in range(1, 9)]
    assert match_channels(stream, model)[1] == ["P7", "P8"]
    assert match_note(stream, model) is None
    short = [f"T{i}" for i in range(1, 7)] + [f"P{i}" for i in range(1, 7)]  # a 6-contact shaft T: no T7 to tell
    card = SimpleNamespace(ch_names=model, n_chans=len(model), ref="p@1")
    with pytest.raises(StreamMismatchError, match="lacks 2 of the 8 channels"):
        channel_indices(short, len(short), card, "s", ["seeg"] * len(short))
    assert "note" not in label_report(short, model, ["SEEG"] * len(short))
    idx = channel_indices(short, len(short), card, "s", ["eeg"] * len(short))  # typed scalp EEG: renamed
    assert [short[i] for i in idx[-2:]] == ["T5", "T6"]


def test_a_stream_mixing_both_systems_is_not_renamed():
    stream = ["C3", "Cz", "C4", "T3", "T4", "P7", "T6"]  # T3/T4 of 10-20 beside P7 of 10-10: not one montage
    idx, missing, _ = match_channels(stream, TEN_TEN)
    assert missing == ["T7", "T8", "P8"] and [stream[i] for i in idx] == ["C3", "Cz", "C4", "P7"]
