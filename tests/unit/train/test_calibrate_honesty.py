"""calibrate keeps the registry's models and says plainly when its decoder is no better than chance.

Real EEG (tests/data: S001 R05/R06, 21 channels), the command as a user types it (click's runner): an existing
``OUT/NAME`` is refused without ``--overwrite`` (naming the model there); names that would leave the registry are
refused; a run whose labels are swapped (a decoder systematically wrong) is shipped with a ``warning:`` line and a
report/card field, under a "chance" headline that is the majority class when the classes are unbalanced, and cues
closer together than the decision time are said; a CV that falls back to trial-wise folds says it may overestimate.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.core.card import MODEL_NAME_PATTERN, ModelCard
from bci_stream.io import load_recording
from bci_stream.io.npz import save_npz
from bci_stream.io.recording import Event
from bci_stream.train.classical.calibration import NAME_PATTERN
from bci_stream.train.classical.calibration_report import chance_check, cue_gaps
from support.common import REPO, SUBSET_S001_21CH, subset_file
from support.marked import FAST_CHANNELS

R05, R06 = SUBSET_S001_21CH / "S001R05.edf", SUBSET_S001_21CH / "S001R06.edf"
LABELS = "T1=fists,T2=feet"
FAKE_SHA = "ab" * 32
FEW = ["--channels", ",".join(FAST_CHANNELS)]  # a few channels: few candidates, a fast fit (the model is not checked)


def _cli(*args: str):
    """calibrate as typed, one decoder picked (``--no-average``: the checks here are of the registry folder and the
    chance/cue-gap warnings, not of the ensemble (test_ensemble.py, test_calibrate.py); one decoder is several times
    cheaper to fit, export and time) and no recurrent stage (test_residual.py)."""
    return CliRunner().invoke(main, ["calibrate", "--no-progress", "--no-recurrent", "--no-average", *args],
                              catch_exceptions=False)


def _files() -> list[str]:
    return [str(subset_file(R05)), str(subset_file(R06))]


def _fake_model(folder: Path, name: str) -> None:
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({"name": name, "version": "1.0.0", "sha256": FAKE_SHA}))


def test_an_existing_model_is_refused_without_overwrite_and_replaced_with_it(tmp_path: Path) -> None:
    models = tmp_path / "models"
    _fake_model(models / "s1", "s1")
    res = _cli(*_files(), "--labels", LABELS, "--name", "s1", "--out", str(models))
    assert res.exit_code == 2, res.output
    assert (f"error: --name s1: {models / 's1'} already holds model s1@1.0.0 (sha256 abababababab); pass "
            "--overwrite to replace it, or give another --name (or --out)") in res.output
    assert json.loads((models / "s1" / "model.json").read_text())["sha256"] == FAKE_SHA  # untouched
    (models / "other").mkdir()
    (models / "other" / "notes.txt").write_text("mine")
    res = _cli(*_files(), "--labels", LABELS, "--name", "other", "--out", str(models))
    assert res.exit_code == 2 and "already holds files (notes.txt); pass --overwrite" in res.output, res.output

    res = _cli(*_files(), "--labels", LABELS, "--name", "s1", "--out", str(models), "--overwrite", *FEW)
    assert res.exit_code == 0, res.output
    assert f"--overwrite: replacing model s1@1.0.0 (sha256 abababababab) in {models / 's1'}" in res.output
    card = json.loads((models / "s1" / "model.json").read_text())
    assert card["sha256"] != FAKE_SHA and card["name"] == "s1"
    # a decoder far above chance on well-spaced cues: no warning, and the report and card say it passed
    assert "warning:" not in res.output, res.output
    report = json.loads((models / "s1" / "report" / "report.json").read_text())
    assert report["warnings"] == [] and report["chance_check"]["above_threshold"] is True
    assert report["chance_check"]["below_chance"] is False and report["cue_gaps"]["n_short"] == 0
    assert card["metrics"]["chance_check"]["above_threshold"] is True and card["metrics"]["warnings"] == []
    assert "chance 0.50 (majority class 0.50, binomial 95% threshold" in res.output  # balanced: uniform headline


def test_overwrite_says_which_files_it_keeps_and_leaves_no_old_report(tmp_path: Path) -> None:
    """``--overwrite`` keeps the folder's other files (a lab's README, notes): a copy of the bundled eegmmidb-s001
    recalibrated on S002's runs kept its README on S001 with no word (audit s46 of reproducibility); and a file the
    replaced version's report folder held stayed beside the new report. Now the kept files are a warning (output,
    report, card), and the report folder holds the new report only."""
    models = tmp_path / "models"
    _fake_model(models / "s1", "s1")
    (models / "s1" / "README.md").write_text("# s1: fitted on another subject")
    (models / "s1" / "report").mkdir()
    (models / "s1" / "report" / "old_plot.png").write_bytes(b"old")
    res = _cli(*_files(), "--labels", LABELS, "--name", "s1", "--out", str(models), "--overwrite", *FEW)
    assert res.exit_code == 0, res.output
    said = ("the folder's other files are kept from the version this one replaces (README.md): check that they "
            "describe this model, or remove them")
    assert f"warning: {said}" in res.output, res.output
    assert (models / "s1" / "README.md").exists() and not (models / "s1" / "report" / "old_plot.png").exists()
    assert said in json.loads((models / "s1" / "model.json").read_text())["metrics"]["warnings"]
    saved = json.loads((models / "s1" / "report" / "report.json").read_text())
    assert said in saved["warnings"]
    # it travels with the model: no path of this machine (audit s46 of reproducibility)
    assert saved["model_dir"] == "s1" and saved["files"] == ["S001R05.edf", "S001R06.edf"], saved["files"]


@pytest.mark.parametrize("name", [".", "..", "_x", "-x", ".hidden", "a/b", ""])
def test_names_that_leave_the_registry_or_hide_are_refused(tmp_path: Path, name: str) -> None:
    res = _cli(str(subset_file(R05)), "--labels", LABELS, "--name", name, "--out", str(tmp_path / "models"))
    assert res.exit_code == 2, res.output
    assert "--name must start with a letter or digit" in res.output
    assert not (tmp_path / "model.json").exists() and not (tmp_path / "models").exists()


def test_the_card_and_calibrate_share_one_name_rule() -> None:
    assert NAME_PATTERN == MODEL_NAME_PATTERN
    for ok in ("s01", "eegmmidb-s001", "a.b_c-1", "9x"):
        assert re.fullmatch(MODEL_NAME_PATTERN, ok)
    card = json.loads((REPO / "models" / "eegmmidb-s001" / "model.json").read_text())
    ModelCard.model_validate(card)
    for bad in (".", "..", "_x"):
        with pytest.raises(ValueError, match="name"):
            ModelCard.model_validate(card | {"name": bad})


def test_chance_check_and_cue_gaps() -> None:
    chance = {"uniform": 0.5, "majority_class": 0.8, "binomial_95_threshold": 0.85}
    ok = chance_check(0.9, [0.85, 0.95], chance, "riemann", 2.0)
    assert ok["above_threshold"] and ok["warning"] is None and ok["chance_kind"] == "majority class"
    flat = chance_check(0.8, [0.74, 0.85], chance, "ensemble", 2.0)
    assert not flat["above_threshold"] and not flat["below_chance"]
    assert "not shown to beat chance" in flat["warning"] and "threshold 0.85 (chance 0.80, majority class)" in \
        flat["warning"]
    worse = chance_check(0.125, [0.08, 0.19], {**chance, "majority_class": 0.5, "binomial_95_threshold": 0.57},
                         "ensemble", 2.0)
    assert worse["below_chance"] and "WORSE than chance" in worse["warning"] and "(uniform)" in worse["warning"]
    gaps = cue_gaps([np.array([0.0, 1.5, 5.0, 6.0]), np.array([10.0, 20.0])], 2.0)
    assert gaps["n_gaps"] == 4 and gaps["n_short"] == 2 and gaps["share_short"] == 0.5
    assert gaps["warning"].startswith("2 of the 4 gaps between consecutive cues (50%; median gap")
    assert cue_gaps([np.array([0.0, 4.0])], 2.0)["warning"] is None


def _swapped_r06(tmp_path: Path) -> Path:
    """R06 with T1 and T2 swapped (a label map the wrong way round), 3 of its (new) T2 cues dropped (unbalanced
    classes) and one extra T1 cue 1 s after the first (cues closer than the decision time)."""
    rec = load_recording(subset_file(R06))
    swap = {"T1": "T2", "T2": "T1"}
    events, dropped = [], 0
    for e in rec.events:
        d = swap.get(e.description, e.description)
        if d == "T2" and dropped < 3:
            dropped += 1
            continue
        events.append(Event(e.onset, e.duration, d))
    first_t1 = next(e for e in events if e.description == "T1")
    rec.events = sorted([*events, Event(first_t1.onset + int(rec.sfreq), 0, "T1")], key=lambda e: e.onset)
    return save_npz(rec, tmp_path / "r06_swapped.npz")


def test_a_decoder_worse_than_chance_is_shipped_with_a_warning(tmp_path: Path) -> None:
    models = tmp_path / "models"
    res = _cli(str(subset_file(R05)), str(_swapped_r06(tmp_path)), "--labels", LABELS, "--name", "swapped",
               "--out", str(models), *FEW)
    assert res.exit_code == 0, res.output  # still exported: the warnings inform, they do not change the model
    report = json.loads((models / "swapped" / "report" / "report.json").read_text())
    counts = report["trials_per_class"]
    assert counts["fists"] != counts["feet"]
    majority = max(counts.values()) / sum(counts.values())
    assert f"chance {majority:.2f} (majority class; uniform 0.50, binomial 95% threshold" in res.output
    check = report["chance_check"]
    assert check["below_chance"] and not check["above_threshold"] and check["chance_kind"] == "majority class"
    # a decoder picked among candidates (--no-average) is checked on the nested CV of the pick, not on its own CV
    assert check["selection"]["picked_cv_acc"] == report["families"][report["chosen_family"]]["cv_acc"]["2"]
    assert check["acc"] == check["selection"]["nested_cv_acc"] and check["selection"]["method"] == "nested_cv"
    assert f"warning: the shipped decoder ({report['chosen_family']}) is WORSE than chance" in res.output
    assert re.search(r"warning: 1 of the \d+ gaps between consecutive cues \(\d+%; median gap [\d.]+ s\) are shorter "
                     r"than the decision time 2 s", res.output), res.output
    card = json.loads((models / "swapped" / "model.json").read_text())
    assert card["metrics"]["chance_check"]["below_chance"] is True and len(card["metrics"]["warnings"]) == 2
    md = (models / "swapped" / "report" / "report.md").read_text()
    assert "## Warnings" in md and "WORSE than chance" in md


def test_a_trial_wise_fallback_over_several_runs_says_it_may_overestimate(tmp_path: Path) -> None:
    rec = load_recording(subset_file(R06))
    rec.events = [e for e in rec.events if e.description != "T2"]  # leaving R05 out would drop 'feet'
    no_t2 = save_npz(rec, tmp_path / "r06_no_t2.npz")
    models = tmp_path / "models"
    res = _cli(str(subset_file(R05)), str(no_t2), "--labels", LABELS, "--name", "fallback", "--out", str(models),
               "--channels", "C3,Cz,C4,Cp3,Cp4")  # a few candidates: the scheme is what counts
    assert res.exit_code == 0, res.output
    report = json.loads((models / "fallback" / "report" / "report.json").read_text())
    why = "2 runs, but leaving run 1 out would leave no trial of a class to train on (fewer than 3)"
    assert report["cv_scheme"].startswith(f"{why}: stratified")
    said = (f"CV is a trial-wise stratified k-fold ({why}), not leave-one-run-out: a fold's test trials share their "
            "run with training trials, so the figures may overestimate accuracy on a new session; and the runs hold "
            "different classes (S001R05.edf: feet, fists; r06_no_t2.npz: fists): class and run are partly confounded")
    assert any(w.startswith(said) for w in report["warnings"]), report["warnings"]  # (the confound: audit s68cal F2)
    assert f"warning: {said}" in res.output  # a warning, on the console too
    assert any(w.startswith(said) for w in json.loads((models / "fallback" / "model.json").read_text())["metrics"][
        "warnings"])


def test_runs_that_each_hold_one_class_are_warned_of_as_confounded(tmp_path: Path) -> None:
    """A lab recording one block per class: a trial-wise CV scored near 1.0 what a new run scores at chance (the
    runs differ, not the classes), with no warning (found by an exploratory run: rest periods labelled by run gave
    CV 0.96-1.00, held out 0.53-0.63)."""
    paths = []
    for run, keep in ((R05, "T1"), (R06, "T2")):
        rec = load_recording(subset_file(run))
        rec.events = [e for e in rec.events if e.description == keep]
        paths.append(str(save_npz(rec, tmp_path / f"{keep}_only.npz")))
    models = tmp_path / "models"
    res = _cli(*paths, "--labels", LABELS, "--name", "blocked", "--out", str(models), "--channels", "C3,Cz,C4")
    assert res.exit_code == 0, res.output
    said = ("every run holds trials of one class only (T1_only.npz: fists; T2_only.npz: feet): class and run are "
            "confounded, so the CV figures cannot tell what separates the classes from what separates the runs")
    assert f"warning: {said}" in res.output, res.output
    card = json.loads((models / "blocked" / "model.json").read_text())
    assert any(w.startswith(said) for w in card["metrics"]["warnings"])


def test_a_run_that_leaves_a_fold_one_trial_a_class_falls_back_to_trial_wise_folds(tmp_path: Path) -> None:
    """R06 keeps one cue of each class: leaving R05 out, a fold would fit on 2 trials (scikit-learn's LDA stopped
    calibrate with "The number of samples must be more than the number of classes", naming nothing)."""
    rec = load_recording(subset_file(R06))
    first = {d: next(e for e in rec.events if e.description == d) for d in ("T1", "T2")}
    rec.events = [e for e in rec.events if e.description not in first or e is first[e.description]]
    one_each = save_npz(rec, tmp_path / "r06_one_each.npz")
    models = tmp_path / "models"
    res = _cli(str(subset_file(R05)), str(one_each), "--labels", LABELS, "--name", "one-each", "--out", str(models),
               "--channels", "C3,Cz,C4,Cp3,Cp4")
    assert res.exit_code == 0, res.output
    report = json.loads((models / "one-each" / "report" / "report.json").read_text())
    assert report["cv_scheme"].startswith("2 runs, but leaving run 1 out would leave 1 trial(s) of a class to train "
                                          "on (fewer than 3): stratified"), report["cv_scheme"]


def test_an_average_that_falls_short_of_a_family_alone_points_to_no_average() -> None:
    """audit s46: an average half of whose members read channels without signal scored 0.44 at 2 s, its best family
    alone 0.82 on the same folds; the warning asked for more or cleaner runs. Now it says the average is what falls
    short and names ``--no-average``; with no family above the threshold the advice is as before."""
    chance = {"uniform": 0.5, "majority_class": 0.51, "binomial_95_threshold": 0.64}
    others = {"csp_lda": 0.70, "riemann": 0.82, "csp_riemann": 0.80, "ensemble": 0.44}
    short = chance_check(0.44, [0.31, 0.59], chance, "ensemble", 2.0, others=others)["warning"]
    assert "the average is what falls short: riemann alone scores 0.820 on the same folds" in short, short
    assert "--no-average ships one decoder" in short and short.endswith("record more or cleaner runs before relying "
                                                                        "on it")
    weak = {fam: 0.6 for fam in others}
    assert "--no-average" not in chance_check(0.6, [0.45, 0.73], chance, "ensemble", 2.0, others=weak)["warning"]
    assert "--no-average" not in chance_check(0.6, [0.45, 0.73], chance, "riemann", 2.0, others=others)["warning"]
