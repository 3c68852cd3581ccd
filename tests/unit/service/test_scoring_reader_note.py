"""The live scoring's ``note`` (status ``scoring.note``) for a model whose cues the trainer read with reader options
(``[data.reader]``, kept in the card's ``training.config.data.reader``): it names them and the ``bci-stream replay``
flags that send the same cues; ``evaluate --live`` says the same in its notes. A card without such options has no
note. Before, nothing said that a plain replay sends other markers than the model's cues (audit D2).

``bci-stream calibrate``'s cards keep its reader options (``--stream``, ``--marker-stream``, ``--event-fields``) in
``training.reader``, and :func:`trained_reader` finds them there as it finds train's: before, a calibrated model's card
held none, so a model calibrated with ``--marker-stream Cues`` was scored live with no note."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bci_stream.core.registry import open_model_folder
from bci_stream.core.spec import MarkerOptions
from bci_stream.io.reader_flags import EVENT_OPTIONS, cue_reading_note, replay_args, trained_reader
from bci_stream.service.scoring import scoring_config
from bci_stream.train.evaluate.inputs import replay_note, trainer_reading
from support.common import REPO

BUNDLED = REPO / "models" / "eegmmidb-s001-gru"
CALIBRATED = REPO / "models" / "eegmmidb-s001"  # calibrate's card: training without a run config


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


TRAIN_CARD = {"tool": "bci-stream train", "config": {"data": {"reader": {"type_state": "StimulusType"}}}}
CALIBRATE_CARD = {"tool": "bci-stream calibrate", "label_map": {"T1": "fists"},
                  "reader": {"stream": "amp", "marker_stream": "Cues"}}


@pytest.mark.parametrize("training, want", [
    (TRAIN_CARD, {"type_state": "StimulusType"}),
    (CALIBRATE_CARD, {"stream": "amp", "marker_stream": "Cues"}),
    ({"tool": "bci-stream calibrate", "reader": {"event_fields": ["type", "position"]}},
     {"event_fields": ["type", "position"]}),
    ({"tool": "bci-stream calibrate", "label_map": {"T1": "fists"}}, {}),  # a card calibrate wrote before
    ({"tool": "bci-stream train", "config": {"data": {"label_window": [0.5, 3.0]}}}, {}),  # train, no [data.reader]
    ({"config": {"data": {"reader": {}}}, "reader": {"marker_stream": "x"}}, {}),  # train's own (empty) wins
    ({"reader": "Cues"}, {}), ({"config": "x"}, {}), ({}, {}), (None, {}), ("bci-stream calibrate", {}),
])
def test_trained_reader_reads_train_and_calibrate_cards(training, want) -> None:
    assert trained_reader(training) == want


def with_calibrate_reader(tmp_path: Path, reader: dict | None) -> Path:
    """A copy of the bundled calibrated model whose card's ``training.reader`` is ``reader`` (None: none)."""
    folder = shutil.copytree(CALIBRATED, tmp_path / "calibrated", ignore=shutil.ignore_patterns("report"))
    card = json.loads((folder / "model.json").read_text())
    assert card["training"]["tool"] == "bci-stream calibrate" and "config" not in card["training"]
    card["training"].pop("reader", None)
    if reader is not None:
        card["training"]["reader"] = reader
    (folder / "model.json").write_text(json.dumps(card))
    return folder


def test_a_calibrated_card_read_with_marker_stream_gets_the_note(tmp_path: Path) -> None:
    """A calibrated card's ``--marker-stream`` is named with its replay flag; its ``--stream`` (which stream is the EEG)
    changes no cue and is not; ``evaluate`` reads other files with both, as it does for a trained model."""
    card = open_model_folder(with_calibrate_reader(tmp_path, {"stream": "amp", "marker_stream": "Cues"})).card
    config, why = scoring_config(card, MarkerOptions())
    assert why is None and config.source == "card.scoring"
    assert config.note.startswith("this model's cues were read with marker_stream='Cues'; replay the file with "
                                  "--marker-stream Cues to send the same cues"), config.note
    assert "--stream" not in config.note and "amp" not in config.note
    (line,) = replay_note(card)
    assert "bci-stream replay FILE --name NAME --marker-stream Cues" in line, line
    assert trainer_reading(card) == {"label_window": None, "reader": {"stream": "amp", "marker_stream": "Cues"}}


@pytest.mark.parametrize("reader", [None, {}, {"stream": "amp"}])
def test_a_calibrated_card_without_event_options_has_no_note(tmp_path: Path, reader: dict | None) -> None:
    card = open_model_folder(with_calibrate_reader(tmp_path, reader)).card
    assert scoring_config(card, MarkerOptions())[0].note is None and replay_note(card) == []


def test_every_flag_the_note_names_is_an_option_of_replay() -> None:
    """Each flag :func:`replay_args` gives for the event options (``include_zero`` in both forms) is a ``bci-stream
    replay`` option; an event option replay has no flag for (``zero``: its ``--labels`` rule) gives none."""
    from bci_stream.sim.replay_cli import replay_cmd

    opts = {o for p in replay_cmd.params for o in (*p.opts, *p.secondary_opts)}
    every = {"state": "S", "type_state": "T", "include_zero": True, "event_fields": ["type", "position"],
             "marker_stream": "Cues", "zero": True}
    assert set(every) == set(EVENT_OPTIONS)
    named = [a for a in replay_args(every) + replay_args({"include_zero": False}) if a.startswith("--")]
    assert named == ["--state", "--type-state", "--include-zero", "--event-fields", "--marker-stream",
                     "--no-include-zero"] and set(named) <= opts
    assert "--zero" not in opts and replay_args({"zero": True}) == []
    assert replay_args({"stream": "amp"}) == []  # not an event option: which stream is the EEG changes no cue
