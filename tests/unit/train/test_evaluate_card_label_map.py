"""`bci-stream evaluate` without --labels scores with the model's own label map (its card's training.label_map),
even when calibrate was given files of two event conventions (EDF ``T1``/``T2`` and BrainVision-style
``Stimulus/S  1``/``Stimulus/S  2``) and the test files hold one: the card's events the files do not hold are
dropped with a note. A user-given --labels keeps the refusal of an event no file holds (a typo), and a trial class
that no held event cues is still refused (audit F, D2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

mne = pytest.importorskip("mne")

from click.testing import CliRunner  # noqa: E402

from bci_stream.cli import main  # noqa: E402
from bci_stream.core.errors import ModelError  # noqa: E402
from bci_stream.train.evaluate.offline import evaluate_target  # noqa: E402
from support.common import REPO, SUBSET_S001_21CH, subset_file  # noqa: E402

GRU = REPO / "models" / "eegmmidb-s001-gru"  # 21 channels, rest/fists/feet, trial classes fists/feet
R10 = SUBSET_S001_21CH / "S001R10.edf"
MIXED = {"Stimulus/S  1": "fists", "Stimulus/S  2": "feet", "T1": "fists", "T2": "feet"}  # as calibrate accepts


def model_with_map(tmp_path: Path, label_map: dict[str, str | None]) -> Path:
    """The bundled model with ``label_map`` as its card's training.label_map (what calibrate writes)."""
    dst = tmp_path / "model"
    shutil.copytree(GRU, dst)
    card = json.loads((dst / "model.json").read_text())
    card["training"]["label_map"] = label_map
    (dst / "model.json").write_text(json.dumps(card))
    return dst


def brainvision_style_fif(tmp_path: Path) -> Path:
    """S001R10 as a FIF whose cues are named as a BrainVision recorder names them (T1 -> 'Stimulus/S  1')."""
    raw = mne.io.read_raw_edf(subset_file(R10), preload=True, verbose="error")
    names = {"T0": "Stimulus/S  3", "T1": "Stimulus/S  1", "T2": "Stimulus/S  2"}
    raw.annotations.rename(names)
    path = tmp_path / "S001R10_stim_raw.fif"
    raw.save(path, verbose="error")
    return path


def test_the_cards_map_of_two_conventions_scores_files_of_either(tmp_path):
    model = model_with_map(tmp_path, MIXED)
    ref = evaluate_target(str(GRU), [subset_file(R10)])["metrics"]  # the card's own T0/T1/T2 map
    for data, absent in (([subset_file(R10)], "'Stimulus/S  1', 'Stimulus/S  2'"),
                         ([brainvision_style_fif(tmp_path)], "'T1', 'T2'")):
        res = evaluate_target(str(model), data)
        assert res["metrics"]["trials_per_class"] == {"fists": 7, "feet": 8}
        assert res["metrics"]["trial_accuracy"] == ref["trial_accuracy"]
        assert res["notes"][0].startswith(f"the model's label map also names {absent}, which the files do not hold")
        assert set(res["label_map"]) == set(MIXED) - {k.strip("'") for k in absent.split(", ")}


def test_the_cli_prints_the_note_and_a_given_typo_is_still_refused(tmp_path):
    model = model_with_map(tmp_path, MIXED)
    res = CliRunner().invoke(main, ["evaluate", str(model), "--data", str(subset_file(R10))])
    assert res.exit_code == 0, res.output
    assert "the model's label map also names 'Stimulus/S  1', 'Stimulus/S  2'" in res.output
    res = CliRunner().invoke(main, ["evaluate", str(model), "--data", str(subset_file(R10)),
                                    "--labels", "T1=fists,T9=feet"])  # given by the user: a typo, refused as before
    assert res.exit_code == 2
    assert "label_map (--labels) names event(s) ['T9'] that occur in none of the files" in res.output


def test_a_trial_class_no_held_event_of_the_cards_map_cues_is_refused(tmp_path):
    model = model_with_map(tmp_path, {"Stimulus/S  1": "fists", "Stimulus/S  2": "feet", "T1": "fists"})
    with pytest.raises(ModelError) as err:
        evaluate_target(str(model), [subset_file(R10)])
    assert "trial class(es) ['feet']" in str(err.value)
    assert "the model's label map also names 'Stimulus/S  1', 'Stimulus/S  2', which the files do not hold" in str(
        err.value)


def test_live_evaluate_drops_the_cards_absent_events_per_file_set_and_checks_the_classes(tmp_path):
    """``evaluate --live`` applies the same rule to the test files and to the --reference-train files, each on its
    own; refused here before the service starts."""
    from bci_stream.train.evaluate.live import LiveEvaluationError, evaluate_live

    model = model_with_map(tmp_path / "models", {"Stimulus/S  1": "fists", "Stimulus/S  2": "feet", "T1": "fists"})
    with pytest.raises(LiveEvaluationError) as err:  # test files of the EDF convention: feet is cued by nothing
        evaluate_live(GRU.name, [subset_file(R10)], None, models_dir=model.parent, speed=8.0)
    assert str(err.value).startswith("trial class(es) ['feet'] are cued by no event the test files hold (the "
                                     "model's label map also names 'Stimulus/S  1', 'Stimulus/S  2'")
    fif = brainvision_style_fif(tmp_path)
    with pytest.raises(LiveEvaluationError) as err:  # test files fine; the reference files miss 'Stimulus/S  2'
        evaluate_live(GRU.name, [fif], None, models_dir=model.parent, speed=8.0,
                      reference_train=[subset_file(R10)])
    assert "cued by no event the --reference-train files hold" in str(err.value)
    # refused before the replay, deliberately; it says how to go on (audit s52cal F1: README said it was recorded)
    assert str(err.value).endswith("; the epoch references are fitted on cues of every trial class: give "
                                   "--reference-train runs of every class, or leave --reference-train out")
    with pytest.raises(LiveEvaluationError,  # a given map: a typo is refused as before
                       match=r"label_map \(--labels\) names event\(s\) \['T9'\] that occur in none of the test files"):
        evaluate_live(GRU.name, [fif], {"Stimulus/S  1": "fists", "T9": "feet"}, models_dir=model.parent)
