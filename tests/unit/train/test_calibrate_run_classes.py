"""``calibrate`` warns when its runs hold different classes (audit s45, 3-4 class lab F4): EEGMMIDB records hands and
feet in separate runs, and left/right/feet calibrated on S002's four runs scored 0.21 in leave-one-run-out CV at 2 s
(chance 0.34) with no word of why; the warning existed only for runs that each hold one class. Real EEG: the
repository's 21-channel subset of S001 (tests/data), one run's "feet" cues dropped.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.io import load_recording
from bci_stream.io.npz import save_npz
from support.common import SUBSET_S001_21CH
from support.marked import FAST_CHANNELS


def test_runs_of_different_classes_are_warned_of_and_runs_of_the_same_are_not(tmp_path: Path):
    rec = load_recording(SUBSET_S001_21CH / "S001R06.edf")
    fists_only = save_npz(replace(rec, events=[e for e in rec.events if e.description != "T2"], labels=None,
                                  label_names=[]), tmp_path / "R06_fists_only.npz")
    runs = [str(SUBSET_S001_21CH / "S001R05.edf"), str(fists_only), str(SUBSET_S001_21CH / "S001R09.edf")]
    # few channels, the classical families alone: the warning reads the runs' classes, not the fit (a fast fit)
    args = ["calibrate", "--no-progress", "--no-recurrent", "--no-combined", "--no-average", "--channels",
            ",".join(FAST_CHANNELS), "--labels", "T1=fists,T2=feet", "--out", str(tmp_path)]
    res = CliRunner().invoke(main, [*args, *runs, "--name", "mixed"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert ("warning: the runs hold different classes (S001R05.edf: feet, fists; R06_fists_only.npz: fists; "
            "S001R09.edf: feet, fists): class and run are partly confounded") in res.output, res.output
    res = CliRunner().invoke(main, [*args, runs[0], runs[2], "--name", "same"], catch_exceptions=False)
    assert res.exit_code == 0 and "the runs hold different classes" not in res.output, res.output


def test_a_k_fold_over_runs_of_different_classes_says_they_are_confounded():
    """Audit s68cal F2: 'feet' in one run only, 'right' in the two others: the CV fell back to a stratified k-fold
    (leaving the first run out would leave no 'feet' trial) and said only that a k-fold may overestimate; the
    confound of class and run was said for leave-one-run-out only."""
    from types import SimpleNamespace as NS

    import numpy as np

    from bci_stream.train.classical.cv import scheme_warning

    def run(source: str, classes: list[int]) -> NS:
        return NS(source=source, trials=NS(classes=np.array(classes)))

    labels = ["left", "right", "feet"]
    scheme = "3 runs, but leaving run 1 out would leave no trial of a class to train on (fewer than 4): stratified"
    mixed = NS(runs=[run("r04.fif", [0, 2, 2, 0]), run("R08.edf", [0, 1]), run("R12.edf", [1, 0])], labels=labels)
    said = scheme_warning(mixed, scheme)
    assert said.startswith("CV is a trial-wise stratified k-fold (3 runs, but leaving run 1 out would leave no trial "
                           "of a class to train on (fewer than 4)), not leave-one-run-out"), said
    assert ("; and the runs hold different classes (r04.fif: feet, left; R08.edf: left, right; R12.edf: left, "
            "right): class and run are partly confounded") in said, said
    same = NS(runs=[run("a.edf", [0, 1, 2]), run("b.edf", [2, 1, 0])], labels=labels)
    assert "different classes" not in scheme_warning(same, scheme)
