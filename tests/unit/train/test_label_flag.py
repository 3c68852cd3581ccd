"""Event names holding ',' or '=' (``cond=1``, ``left,hand``) are mapped by ``--label EVENT=CLASS`` (split at the
last '='), in calibrate and evaluate; ``--labels`` keeps its syntax and refuses a pair with two '=' (it was read as
event ``cond``, class ``1=left``). A calibration never writes a ``name@version`` the registry folder already holds:
``--overwrite`` writes the replaced version + 1. An ensemble's card says its top-level ``preprocessing`` is member 0's.

Real EEG (tests/data: S001 R05/R06, 21 channels) rewritten as NPZ with T1 -> ``cond=1``, T2 -> ``left,hand``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.core.registry import ModelRegistry
from bci_stream.io import load_recording
from bci_stream.io.errors import LabelMapError
from bci_stream.io.labels import merge_label_maps, parse_label_list, parse_label_pair
from bci_stream.io.npz import save_npz
from bci_stream.io.recording import Event
from bci_stream.train.classical.model_version import bump, next_version
from support.common import SUBSET_S001_21CH, subset_file
from support.marked import FAST_CHANNELS

NAMES = {"T1": "cond=1", "T2": "left,hand"}
PAIRS = ["--label", "cond=1=fists", "--label", "left,hand=feet"]


def test_label_pair_splits_at_the_last_equals_sign() -> None:
    assert parse_label_pair("cond=1=left") == ("cond=1", "left")
    assert parse_label_pair(" left,hand = feet ") == ("left,hand", "feet")
    assert parse_label_pair("Stimulus/S  1=rest") == ("Stimulus/S  1", "rest")
    assert parse_label_pair("cond==x") == ("cond=", "x")
    assert parse_label_pair("cond=1=", allow_ignore=True) == ("cond=1", None)
    for bad in ("cond1", "=x", "cond=1="):
        with pytest.raises(LabelMapError, match=r"--label must be EVENT=CLASS, split at the last '='.*got '"):
            parse_label_pair(bad)


def test_labels_keeps_its_syntax_and_refuses_two_equals_signs() -> None:
    assert parse_label_list("T1=fists,T2=feet,") == {"T1": "fists", "T2": "feet"}
    assert parse_label_list("T0=,T1=a", allow_ignore=True) == {"T0": None, "T1": "a"}
    with pytest.raises(LabelMapError, match=r"--labels pair 'cond=1=left' holds two '='.*goes in --label EVENT=CLASS"
                                            r".*got 'cond=1=left,T2=b'"):
        parse_label_list("cond=1=left,T2=b")
    with pytest.raises(LabelMapError, match=r"pair 'left' is not; an event name holding ',' or '=' goes in --label"):
        parse_label_list("left,hand=feet")
    with pytest.raises(LabelMapError, match=r"event 'T1' is mapped twice: by --labels 'T1=a' and by --label 'T1=b'"):
        merge_label_maps(["T1=a"], ["T1=b"])
    assert merge_label_maps(["T1=a"], ["cond=1=b"]) == {"T1": "a", "cond=1": "b"}


def test_version_bump() -> None:
    assert [bump(v) for v in ("1.0.0", "1.0.9", "2.3", "1.2.0-rc1", "x")] == ["1.0.1", "1.0.10", "2.4", "1.2.0-rc2",
                                                                              "x.1"]


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = []
    for run in ("S001R05", "S001R06"):
        rec = load_recording(subset_file(SUBSET_S001_21CH / f"{run}.edf"))
        rec.events = [Event(e.onset, e.duration, NAMES.get(e.description, e.description)) for e in rec.events]
        out.append(str(save_npz(rec, tmp_path_factory.mktemp("renamed") / f"{run}.npz")))
    return out


def _cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_label_maps_event_names_with_commas_and_equals_and_overwrite_bumps_the_version(renamed: list[str],
                                                                                      tmp_path: Path) -> None:
    models = tmp_path / "models"
    res = _cli("calibrate", "--no-progress", "--no-recurrent", *renamed, "--labels", "cond=1=fists,left,hand=feet",
               "--name", "s1", "--out", str(models))
    assert res.exit_code == 2 and "--labels pair 'cond=1=fists' holds two '='" in res.output, res.output
    (models / "s1").mkdir(parents=True)
    (models / "s1" / "model.json").write_text(json.dumps({"name": "s1", "version": "1.0.0", "sha256": "ab" * 32}))

    # a few channels: few candidates (still both families, with and without CAR), a fast fit
    res = _cli("calibrate", "--no-progress", "--no-recurrent", *renamed, *PAIRS, "--name", "s1", "--out", str(models),
               "--overwrite", "--channels", ",".join(FAST_CHANNELS))
    assert res.exit_code == 0, res.output
    assert f"version: s1@1.0.1, after s1@1.0.0 in {models}" in res.output
    card = json.loads((models / "s1" / "model.json").read_text())
    assert card["version"] == "1.0.1" and card["training"]["label_map"] == {"cond=1": "fists", "left,hand": "feet"}
    assert card["output"]["labels"] == ["fists", "feet"]
    # an ensemble's card says its top-level preprocessing is member 0's, and what every member uses
    members = card["architecture"]["members"]
    assert card["architecture"]["family"] == "ensemble" and card["preprocessing"] == members[0]["preprocessing"]
    note = card["preprocessing_note"]
    assert note.startswith("ensemble: `preprocessing` is member 0's only (its filter is the graph's state zf); the "
                           f"{len(members)} members use "), note
    assert "8-30 Hz band-pass (order 4), CAR (members 0, " in note and ", no CAR (members " in note, note
    assert [e.card.ref for e in ModelRegistry(models).list()] == ["s1@1.0.1"]
    assert "s1@1.0.1" in _cli("models", "--models-dir", str(models)).output

    # a kept copy of s1@1.0.1 in another folder: a new OUT/s1 is 1.0.2, never a second s1@1.0.1
    shutil.copytree(models / "s1", models / "s1-kept")
    assert next_version(models, "s1") == ("1.0.2", "1.0.1")
    assert next_version(models, "other") == ("1.0.0", None)

    # evaluate takes the same --label; the model's own label map (names with ',' and '=') is its default
    res = _cli("evaluate", str(models / "s1"), "--data", renamed[1], *PAIRS)
    assert res.exit_code == 0 and "trial accuracy @   2s" in res.output, res.output
    head = next(line for line in res.output.splitlines() if "sample accuracy" in line)  # audit s58readme F6: chance too
    assert re.search(r"; chance 0\.\d{3} \(the share of the most frequent trial class\)$", head), head
    res = _cli("evaluate", str(models / "s1"), "--data", renamed[1], "--labels", "cond=1=fists")
    assert res.exit_code == 2 and "--labels pair 'cond=1=fists' holds two '='" in res.output, res.output


def test_a_shipped_residual_gru_is_written_with_the_new_version(tmp_path: Path) -> None:
    """calibrate exports a shipped csp_gru with the version it chose (``RecurrentOutcome.export(..., version)``): the
    same card but for the version."""
    import numpy as np
    import torch

    from bci_stream.train.classical.calibration_inputs import load_calibration
    from bci_stream.train.classical.configs import DEFAULT_CSP, with_
    from bci_stream.train.classical.fit import fit_csp_lda
    from bci_stream.train.classical.prepared import all_trials
    from bci_stream.train.classical.residual import ResidualNet, to_params
    from bci_stream.train.classical.residual_calibrate import RecurrentOutcome

    runs = [subset_file(SUBSET_S001_21CH / f"{r}.edf") for r in ("S001R05", "S001R06")]
    prep = load_calibration(runs, {"T1": "fists", "T2": "feet"})
    csp = fit_csp_lda(prep, all_trials(prep, [0]), with_(DEFAULT_CSP, channels="sensorimotor", n_components=6))
    torch.manual_seed(1)
    m = np.asarray(csp.filters).shape[1]
    params = to_params(ResidualNet(m, 2, 8), csp, np.zeros(m), np.ones(m), "log_power")
    outcome = RecurrentOutcome({"config": {"label": "gru H=8"}}, params, {"cv_acc_2s": 0.9})
    training, metrics = {"label_map": {"T1": "fists", "T2": "feet"}}, {"cv_acc_2s": 0.8}
    old = outcome.export(tmp_path / "a", "g", training, metrics)
    new = outcome.export(tmp_path / "b", "g", training, metrics, "1.0.3")
    assert (old.version, new.version) == ("1.0.0", "1.0.3") and new.architecture.family == "csp_gru"
    skip = {"version", "sha256", "created", "step", "parity"}
    assert old.model_dump(exclude=skip) == new.model_dump(exclude=skip)


def test_classes_that_differ_only_in_case_are_refused():
    """Audit s68cal F3: ``--labels T1=left,T2=right,L=Left,R=right`` (a run whose markers name the classes)
    calibrated 3 classes, 'left' and 'Left', with no word."""
    with pytest.raises(LabelMapError, match=r"classes 'left' and 'Left' differ only in case, so they would be two "
                                            r"classes; name each class one way \(e.g. left\)"):
        merge_label_maps(["T1=left,T2=right,L=Left,R=right"], [])
    with pytest.raises(LabelMapError, match="differ only in case"):
        merge_label_maps(["T1=feet"], ["cond=1=Feet"])
    assert merge_label_maps(["T1=left,L=left,T0=,R=right"], [], allow_ignore=True) == {
        "T1": "left", "L": "left", "T0": None, "R": "right"}
