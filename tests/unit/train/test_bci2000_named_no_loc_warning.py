"""A BCI2000 file given with ``--channel-names`` (audit s52cal, finding 8): the reader still took the ``.loc`` file
beside it and warned "has no ChannelNames parameter: its 64 channels are named by eeg64.loc beside it ... name them
with --channel-names", though the user had named them. Now ``calibrate``, ``evaluate`` and ``replay`` (through
:func:`~bci_stream.io.load.named_options`) read such a file without looking for a ``.loc``: no warning, the names
given are used; without ``--channel-names`` the warning stays. Real EEG: BCI2000's sample motor runs beside their
``eeg64.loc`` (full data set)."""

from __future__ import annotations

import warnings

import pytest

from bci_stream.io import load_recording
from bci_stream.io.errors import RecordingWarning
from bci_stream.train.classical.calibration_inputs import load_calibration, parse_channel_names
from support.common import SHARED_DATA, require_full_data

BCI = SHARED_DATA / "bci2000"
LABELS = {"1": "hands", "2": "feet"}


def _recording_warnings(call) -> tuple[object, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    return out, [str(w.message) for w in caught if issubclass(w.category, RecordingWarning)]


@pytest.fixture()
def runs() -> list:
    require_full_data(BCI / "eeg1_1.dat", BCI / "eeg1_2.dat", BCI / "eeg64.loc")
    return [BCI / "eeg1_1.dat", BCI / "eeg1_2.dat"]


def test_calibrate_with_channel_names_does_not_warn_of_the_loc(runs: list) -> None:
    names = parse_channel_names(str(BCI / "eeg64.loc"))
    prep, said = _recording_warnings(lambda: load_calibration(runs, LABELS, channel_names=names))
    assert not [w for w in said if "ChannelNames" in w], said
    assert prep.ch_names[:2] == ["Fc5.", "Fc3."]
    _, said = _recording_warnings(lambda: load_calibration(runs, LABELS))  # not named: the .loc beside it, said
    assert any("eeg1_1.dat has no ChannelNames parameter: its 64 channels are named by eeg64.loc" in w for w in said)


def test_evaluate_with_channel_names_does_not_warn_of_the_loc(runs: list) -> None:
    from bci_stream.train.evaluate.inputs import load_for_model

    names = parse_channel_names(str(BCI / "eeg64.loc"))
    wanted = ["C3", "Cz", "C4"]
    d, said = _recording_warnings(lambda: load_for_model(runs[0], LABELS, wanted, channel_names=names))
    assert not [w for w in said if "ChannelNames" in w], said
    assert d.x.shape[1] == 3  # [T, the model's channels]
    rec, said = _recording_warnings(lambda: load_recording(runs[0], rename_channels=names))
    assert not said and rec.ch_names[:2] == ["Fc5.", "Fc3."]
