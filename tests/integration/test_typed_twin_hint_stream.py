"""A stream whose channel ``T3`` is typed SEEG in its ``desc`` (shaft T, contact 3) is not read as the 10-10 ``T7`` a
scalp model needs (right), and the refusal says why: "T3 is typed SEEG, not EEG: not read as T7". The same labels
typed EEG feed the model, ``T7`` read from ``T3``. Real pylsl outlets on loopback, their desc read back through an
inlet as the service reads it."""

from __future__ import annotations

from types import SimpleNamespace

import pylsl
import pytest

from bci_stream.core.errors import StreamMismatchError
from bci_stream.lsl.info import make_stream_info, read_labels, read_types
from bci_stream.lsl.source import check_stream, label_report
from support.common import TINY_SFREQ, unique

LABELS = ["C3", "T3", "Cz", "T4"]
CARD = SimpleNamespace(ch_names=["C3", "T7", "Cz"], n_chans=3, ref="scalp@1", sfreq=TINY_SFREQ)


def _served_info(types: list[str]) -> tuple[pylsl.StreamOutlet, pylsl.StreamInfo]:
    """A live outlet of ``LABELS`` typed ``types``, and its full info (with the desc) as an inlet gets it."""
    name = unique("typedtwin")
    outlet = pylsl.StreamOutlet(make_stream_info(name, "EEG", LABELS, TINY_SFREQ, f"{name}-src", ch_type=types))
    found = pylsl.resolve_bypred(f"name='{name}'", 1, 10.0)
    assert found, f"stream {name} not found"
    return outlet, pylsl.StreamInlet(found[0]).info(timeout=10.0)


def test_an_seeg_typed_twin_is_not_read_and_the_refusal_says_why():
    outlet, full = _served_info(["EEG", "SEEG", "EEG", "SEEG"])
    try:
        assert read_types(full) == ["EEG", "SEEG", "EEG", "SEEG"]
        with pytest.raises(StreamMismatchError) as err:
            check_stream(full, CARD)
        message = str(err.value)
        assert "lacks 1 of the 3 channels model 'scalp@1' needs: T7" in message
        assert "T3 is typed SEEG, not EEG: not read as T7" in message, message
        assert "only channels typed EEG, or of no type, are read under their 10-20/10-10 twin name" in message
        assert "not read as T8" not in message  # the model does not need T8: nothing to say of T4
        assert "note" not in label_report(read_labels(full), CARD.ch_names, read_types(full))
    finally:
        del outlet


def test_the_same_labels_typed_eeg_feed_the_model():
    outlet, full = _served_info(["EEG"] * len(LABELS))
    try:
        assert check_stream(full, CARD).tolist() == [0, 1, 2]  # T7 <- T3
        assert "T7 = 'T3'" in label_report(read_labels(full), CARD.ch_names, read_types(full))["note"]
    finally:
        del outlet
