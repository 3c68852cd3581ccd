"""The bundled models in ``models/`` are what today's commands write, so their cards carry every field the README
says a card has: no card is an upgraded older one (``upgraded_from_format``), the cards made by ``calibrate`` and
``train`` hold ``training.files_sha256`` (so ``evaluate`` catches a renamed copy of a training file by its content),
``metrics.chance_check`` and ``metrics.warnings`` (a warning exactly when the check is not passed), and the
calibrated ensemble holds its ``preprocessing_note``. The real-EEG checks use the repository's byte-identical copy of
EEGMMIDB S001R06 (tests/data), a training file of both S001 models.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bci_stream.core.card import sha256_file
from bci_stream.train.evaluate.in_sample import card_training_files, in_sample_warnings
from support.common import REPO, SUBSET_S001, subset_file

MODELS = REPO / "models"
REAL = ("eegmmidb-s001", "eegmmidb-s001-gru")  # made by calibrate and by train from EEGMMIDB S001


def _card(name: str) -> dict:
    return json.loads((MODELS / name / "model.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["sim-mi-gru", *REAL])
def test_no_bundled_card_is_an_upgraded_older_one(name: str) -> None:
    card = _card(name)
    assert "upgraded_from_format" not in card["training"], f"{name} comes from an older exporter"
    assert card["sha256"] == sha256_file(MODELS / name / "model.onnx")


def test_the_sim_model_is_what_its_script_writes() -> None:
    from bci_stream.train.bundled import SHIPPED_SHA256, VERSION, built_version

    card = _card("sim-mi-gru")
    assert card["training"]["script"] == "python -m bci_stream.train.bundled" and card["version"] == VERSION
    # a build of other bytes (another CPU or torch rounds differently) is another version, never the shipped one's
    # (audit s67readme F1: a rebuild here had other bytes and scores, and was sim-mi-gru@1.0.1 all the same)
    assert card["sha256"] == SHIPPED_SHA256 and built_version(SHIPPED_SHA256) == VERSION
    assert built_version("0ddc0078" + "0" * 56) == f"{VERSION}+0ddc00780000"


@pytest.mark.parametrize("name", REAL)
def test_real_eeg_cards_hold_digests_and_a_chance_check_with_its_warning(name: str) -> None:
    card = _card(name)
    metrics, digests = card["metrics"], card["training"]["files_sha256"]
    flat = [d for ds in (digests.values() if isinstance(digests, dict) else [digests]) for d in ds]
    assert flat and all(isinstance(d, str) and len(d) == 64 for d in flat)
    check = metrics["chance_check"]
    passed = check.get("above_threshold", check.get("above_chance"))
    assert isinstance(passed, bool)
    assert bool(metrics["warnings"]) is (not passed)  # a warning exactly when the check is not passed


def test_the_calibrated_ensemble_says_its_preprocessing_is_member_0s() -> None:
    card = _card("eegmmidb-s001")
    assert card["architecture"]["family"] == "ensemble"
    assert card["preprocessing_note"].startswith("ensemble: `preprocessing` is member 0's only")


@pytest.mark.parametrize("name", REAL)
def test_a_renamed_copy_of_a_training_file_is_caught_by_its_content(name: str, tmp_path: Path) -> None:
    r06 = subset_file(SUBSET_S001 / "S001R06.edf")  # byte-identical to PhysioNet's S001R06, trained on by both
    renamed = tmp_path / "subject1-run6.edf"
    shutil.copyfile(r06, renamed)
    got = in_sample_warnings([renamed], card_training_files(_card(name)["training"]))
    assert len(got) == 1 and got[0].startswith("subject1-run6.edf has the content of a training file"), got
