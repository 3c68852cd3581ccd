"""The live scoring's ``note`` (status ``scoring.note``) for a model whose cues the trainer read with reader options
(``[data.reader]``, kept in the card's ``training.config.data.reader``): it names them and the ``bci-stream replay``
flags that send the same cues; ``evaluate --live`` says the same in its notes. A card without such options has no
note. Before, nothing said that a plain replay sends other markers than the model's cues (audit D2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bci_stream.core.registry import open_model_folder
from bci_stream.core.spec import MarkerOptions
from bci_stream.io.reader_flags import cue_reading_note, replay_args
from bci_stream.service.scoring import scoring_config
from bci_stream.train.evaluate.inputs import replay_note
from support.common import REPO

BUNDLED = REPO / "models" / "eegmmidb-s001-gru"


def with_reader(tmp_path: Path, reader: dict | None) -> Path:
    """A copy of the bundled trained model whose card's run config has ``[data.reader]`` ``reader``."""
    folder = shutil.copytree(BUNDLED, tmp_path / "copy", ignore=shutil.ignore_patterns("report"))
    card = json.loads((folder / "model.json").read_text())
    assert "reader" in card["training"]["config"]["data"]  # the trainer writes it: {} for this model
    card["training"]["config"]["data"]["reader"] = reader
    (folder / "model.json").write_text(json.dumps(card))
    return folder


def test_a_card_read_with_type_state_gets_a_scoring_note_naming_the_replay_flag(tmp_path: Path) -> None:
    card = open_model_folder(with_reader(tmp_path, {"type_state": "StimulusType"})).card
    config, why = scoring_config(card, MarkerOptions())
    assert why is None and config.note is not None
    assert config.note.startswith("this model's cues were read with type_state='StimulusType'; replay the file with "
                                  "--type-state StimulusType to send the same cues"), config.note
    # the user's own marker map scores the markers the replay sends all the same
    mine, _ = scoring_config(card, MarkerOptions(marker_map={"T1": "fists"}))
    assert mine.note == config.note
    (line,) = replay_note(card)
    assert "type_state='StimulusType'" in line and "bci-stream replay FILE --name NAME --type-state StimulusType" \
        in line, line


@pytest.mark.parametrize("reader", [{}, None, {"loc_file": "eeg64.loc"}, {"stream": "amp-a"}])
def test_a_card_without_event_reader_options_has_no_note(tmp_path: Path, reader: dict | None) -> None:
    card = open_model_folder(with_reader(tmp_path, reader)).card
    config, _ = scoring_config(card, MarkerOptions())
    assert config.note is None and replay_note(card) == []
    bundled = open_model_folder(REPO / "models" / "eegmmidb-s001").card  # calibrate's card: no run config
    assert scoring_config(bundled, MarkerOptions())[0].note is None


def test_replay_args_and_notes_for_each_event_option() -> None:
    reader = {"state": "TargetCode", "include_zero": False, "event_fields": ["type", "position"],
              "marker_stream": "cues", "zero": True, "until_next": True, "stream": "amp-a"}
    assert replay_args(reader) == ["--state", "TargetCode", "--no-include-zero", "--event-fields", "type,position",
                                   "--marker-stream", "cues"]
    assert replay_args({"include_zero": True}) == ["--include-zero"]
    note = cue_reading_note(reader)
    assert note.startswith("this model's cues were read with state='TargetCode', include_zero=False, event_fields="
                           "['type', 'position'], marker_stream='cues', zero=True; replay the file with --state "
                           "TargetCode --no-include-zero --event-fields type,position --marker-stream cues to send "
                           "the same cues; replay sends a numeric marker 0 as the marker '0' only when --labels "
                           "names '0' (zero=True)"), note
