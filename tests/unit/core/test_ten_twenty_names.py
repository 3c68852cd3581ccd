"""10-20's T3/T4/T5/T6 are 10-10's T7/T8/P7/P8: not matched across (a stream with both must not be mis-mapped), but a
missing-channel error says which stream channel has the other name."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from bci_stream.core.channels import pick_channels, renamed_hint
from bci_stream.core.errors import ChannelError, StreamMismatchError
from bci_stream.lsl.source import channel_indices

TEN_TEN = ["C3", "Cz", "C4", "T7", "T8", "P7", "P8"]
CARD = SimpleNamespace(ch_names=TEN_TEN, n_chans=len(TEN_TEN), ref="m@1")


def test_missing_channel_error_names_the_10_20_names():
    stream = ["C3", "Cz", "C4", "T3", "T4", "T5", "T6"]
    with pytest.raises(StreamMismatchError) as exc:
        channel_indices(stream, len(stream), CARD, "s")
    assert str(exc.value).endswith(
        "(stream has 7 channels: C3, Cz, C4, T3, T4, T5, T6) (stream has T3, T4, T5, T6: the other name of T7, T8, "
        "P7, P8; T3, T4, T5, T6 of 10-20 are T7, T8, P7, P8 of 10-10. Names are not matched across the two systems: "
        "rename the channels to the model's names)")


def test_both_names_in_the_stream_map_by_the_exact_one():
    stream = ["T3", "C3", "Cz", "C4", "T7", "T4", "T8", "P7", "P8", "T5", "T6"]
    idx = channel_indices(stream, len(stream), CARD, "s")
    assert [stream[i] for i in idx] == TEN_TEN  # T3..T6 are left alone


def test_hint_both_ways_and_only_when_the_other_name_is_there():
    assert "stream has EEG T3: the other name of T7" in renamed_hint(["T7"], ["EEG T3", None])
    assert "file has t7: the other name of T3" in renamed_hint(["T3"], ["t7"], "file")
    assert renamed_hint(["T7", "Cz"], ["C3"]) == ""
    with pytest.raises(ChannelError, match=r"recording has T5: the other name of P7"):
        pick_channels(np.zeros((2, 4)), ["C3", "T5"], ["C3", "P7"])
