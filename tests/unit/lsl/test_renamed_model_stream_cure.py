"""A model calibrated on renamed channels (``calibrate --channel-names``: a BCI IV 2a file's ``EEG-0``, ``EEG-1``...
named ``FC3``, ``FC1``...) and a stream of that file under its own names: the decoder's error says the cure, stream
them under those names (``bci-stream replay FILE --channel-names ...``), because the model's card says its files
were renamed (audit s19 D7). A card without that note keeps the plain message.

Data: real EEG, EEGMMIDB S001 R06 (``tests/data``) in the 2a layout (25 channels ``EEG-Fz``, ``EEG-0``...,
``EOG-left``...) written by ``tests/support/gdf.py``; the card note is the one ``calibrate``'s loader writes
(``load_calibration`` with ``channel_names``); the stream info is a real pylsl StreamInfo with the file's labels.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bci_stream.core.errors import StreamMismatchError
from bci_stream.core.registry import ModelRegistry
from bci_stream.io import load_recording
from bci_stream.lsl.info import make_stream_info
from bci_stream.lsl.source import check_stream
from support.common import SUBSET_R06, subset_file
from support.gdf import BCI2A_LABELS, BCI2A_POSITIONS, bci2a_like

pytest.importorskip("mne")


@pytest.fixture(scope="module")
def calibrate_notes(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The notes calibrate's loader writes (and the card keeps in training.notes) for a 2a file renamed."""
    from bci_stream.train.classical.calibration_inputs import load_calibration

    path = bci2a_like(tmp_path_factory.mktemp("renamed") / "A01T.gdf", load_recording(subset_file(SUBSET_R06)),
                      cue_codes={"T1": 769, "T2": 770})
    names = BCI2A_POSITIONS + ["EOG-left", "EOG-central", "EOG-right"]
    return load_calibration([path], {"769": "left", "770": "right"}, channel_names=names).notes


@pytest.fixture(scope="module")
def card(models_dir: Path):
    return ModelRegistry(models_dir).get("tiny-gru").card  # FC3, FC4, C3, Cz, C4, CP3, CP4, Pz: 2a positions


def test_a_renamed_model_on_the_files_own_names_says_to_stream_them_renamed(card, calibrate_notes):
    renamed = card.model_copy(update={"training": {**card.training, "notes": calibrate_notes}})
    info = make_stream_info("a01-raw", "EEG", BCI2A_LABELS, card.sfreq, "a01-raw-src")
    with pytest.raises(StreamMismatchError) as err:
        check_stream(info, renamed)
    message = str(err.value)
    assert message.startswith("stream 'a01-raw' lacks 4 of the 8 channels model 'tiny-gru@1.0.0' needs: FC3, FC4, "
                              "CP3, CP4 (stream has 25 channels: EEG-Fz, EEG-0")  # EEG-C3... read as C3...
    assert ("; model 'tiny-gru@1.0.0' was calibrated on renamed channels (its card's training notes: 'renamed the 25 "
            "channels of every file by --channel-names: EEG-Fz -> Fz, EEG-0 -> FC3") in message
    assert message.endswith("stream them under those names (bci-stream replay FILE --channel-names NAMES, the names "
                            "calibrate was given; from an amplifier, label its channels so in the stream's desc)")


def test_a_model_of_unrenamed_files_keeps_the_plain_message(card):
    info = make_stream_info("a01-raw", "EEG", BCI2A_LABELS, card.sfreq, "a01-raw-src")
    with pytest.raises(StreamMismatchError) as err:
        check_stream(info, card)
    assert "renamed" not in str(err.value) and str(err.value).endswith("EEG-Cz ...)")
