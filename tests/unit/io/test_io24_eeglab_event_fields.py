"""EEGLAB events named by more than their ``type``: the reader option ``event_fields`` (``[data.reader] event_fields``
in a run config). EEGLAB's tutorial dataset (the real ``eeglab_data.set`` of the full data set) has 80 ``square``
events whose target side is only in the field ``position`` (1 or 2): by ``type`` alone (mne's name) the two
conditions cannot be told apart, so no label map can make them two classes. With ``event_fields = ["type",
"position"]`` they are ``square/1`` and ``square/2`` (``rt``, whose position is empty, stays ``rt``), at the same
samples; a field the file lacks is an error naming the option and the fields it has."""

from __future__ import annotations

from collections import Counter

import pytest

from bci_stream.io import DataError, load_recording
from bci_stream.io.load import events_summary, format_options
from support.common import SHARED_DATA, require_full_data

SET = SHARED_DATA / "eeglab" / "eeglab_data.set"


@pytest.fixture(scope="module")
def path():
    return require_full_data(SET, SHARED_DATA / "eeglab" / "eeglab_data.fdt")


def test_square_events_split_by_position_at_the_same_samples(path) -> None:
    from pymatreader import read_mat

    table = read_mat(str(path), variable_names=["EEG"])["EEG"]["event"]
    sides = Counter(f"square/{int(p)}" for t, p in zip(table["type"], table["position"]) if t == "square")
    plain = load_recording(path)
    rec = load_recording(path, event_fields=["type", "position"])
    assert events_summary(rec.events) == {"rt": 74, **sides} and set(sides) == {"square/1", "square/2"}
    assert [(e.onset, e.duration) for e in rec.events] == [(e.onset, e.duration) for e in plain.events]
    assert [e.description.split("/")[0] for e in rec.events] == [e.description for e in plain.events]
    lab = load_recording(path, event_fields=("type", "position"), label_map={"square/1": "one", "square/2": "two"},
                         label_window=(0.0, 0.5))
    assert lab.label_counts() == {"one": sides["square/1"], "two": sides["square/2"]}
    assert "event_fields" in format_options(path)  # so [data.reader] event_fields reaches it


def test_a_field_the_file_lacks_is_an_error_naming_the_option_and_its_fields(path) -> None:
    with pytest.raises(DataError, match=r"event_fields names field\(s\) \['code'\] that EEG.event of "
                                        r"eeglab_data.set lacks.*its events have \['latency', 'position', 'type', "
                                        r"'urevent'\]"):
        load_recording(path, event_fields=["code"])
    with pytest.raises(DataError, match=r"event_fields must name one or more fields of EEG.event"):
        load_recording(path, event_fields=[])


def test_calibrate_and_evaluate_pass_event_fields_to_the_reader(path, tmp_path) -> None:
    """``--event-fields`` reaches the EEGLAB reader from both commands (a field the file lacks fails at loading,
    naming the option), and is refused, naming the flag, when no file given is an EEGLAB file."""
    from click.testing import CliRunner

    from bci_stream.train.classical.calibrate import calibrate_cmd
    from bci_stream.train.cli import evaluate_cmd
    from support.common import REPO

    edf = next((REPO / "tests" / "data" / "eegmmidb").rglob("*.edf"))
    runner = CliRunner()
    calibrate = ["--labels", "square/1=one,square/2=two", "--name", "ee", "--out", str(tmp_path), "--no-progress"]
    res = runner.invoke(calibrate_cmd, [str(path), *calibrate, "--event-fields", "type,nosuch"])
    assert res.exit_code == 2 and "event_fields" in res.output and "nosuch" in res.output, res.output
    res = runner.invoke(calibrate_cmd, [str(edf), *calibrate, "--event-fields", "type,position"])
    assert res.exit_code == 2 and "--event-fields applies to no file given" in res.output, res.output
    model = REPO / "models" / "eegmmidb-s001-gru"
    res = runner.invoke(evaluate_cmd, [str(model), "--data", str(edf), "--event-fields", "type,position"])
    assert res.exit_code != 0 and "--event-fields applies to no file given" in res.output, res.output
