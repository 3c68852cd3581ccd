"""Offline ``evaluate`` leaves out the trials ``calibrate`` would leave out (``bad*`` annotations, NaN/inf stretches
plus their settling, events named by ``--bad-events``), says so per file, reason and class, and scores the rest; the
function and the CLI, on real EEG (S001 R05 as FIF with marks; the model calibrated on the clean R06)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.io import load_recording
from bci_stream.train.classical.bad_spans import settle_s
from bci_stream.train.evaluate.offline import evaluate_target
from support.common import subset_file
from support.marked import LABELS, R05, SFREQ, calibrated_once, cues, marked_fif

pytest.importorskip("mne")

@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return calibrated_once(tmp_path_factory)  # the same model as test_bad_spans_review2_fixes's: made once


def _marked(tmp_path: Path) -> tuple[Path, list[tuple[float, str]]]:
    """R05 with a blink 0.5 s after cue 1, a zero-duration ``1023`` 1 s after cue 2, and 1 s of NaN on C3 and Cz
    1 s after cue 8."""
    t = [(onset / SFREQ, name) for onset, name in cues()]
    names = load_recording(subset_file(R05)).ch_names
    rows = [names.index("C3.."), names.index("Cz..")]
    path = marked_fif(tmp_path / "marked_raw.fif", extra=[(t[1][0] + 0.5, 0.3, "BAD_blink"),
                                                          (t[2][0] + 1.0, 0.0, "1023")],
                      nan=[(rows, t[8][0] + 1.0, t[8][0] + 2.0, np.nan)])
    return path, t


def test_evaluate_scores_only_the_trials_calibrate_would_keep(models: Path, tmp_path: Path) -> None:
    path, t = _marked(tmp_path)
    clean = evaluate_target("clean", [subset_file(R05)], label_map=LABELS, models_dir=models)
    assert clean["trials_left_out"] == [] and clean["metrics"]["n_trials"] == len(t)
    res = evaluate_target("clean", [path], label_map=LABELS, models_dir=models)
    assert res["metrics"]["n_trials"] == len(t) - 2  # the blink and the NaN stretch; 1023 is not named
    nan_why = f"non-finite samples + {settle_s(SFREQ):.1f} s settling"
    by_reason = {"BAD_blink": {t[1][1]: 1}, nan_why: {t[8][1]: 1}}
    assert res["trials_left_out"] == [{"file": "marked_raw.fif", "n": 2, "by_reason": by_reason}]
    assert any(n.startswith("left out 2 trial(s) of marked_raw.fif: 1 overlap BAD_blink") for n in res["notes"])
    named = evaluate_target("clean", [path], label_map=LABELS, models_dir=models, bad_events=["1023"])
    assert named["metrics"]["n_trials"] == len(t) - 3 and named["bad_events"] == ["1023"]
    assert named["trials_left_out"][0]["by_reason"]["1023"] == {t[2][1]: 1}
    for row in named["metrics"]["trial_accuracy"].values():
        assert row["n_trials"] <= len(t) - 3


def test_the_cli_takes_bad_events(models: Path, tmp_path: Path) -> None:
    """Offline here; with --live: tests/integration/test_evaluate_live_bad_trials.py."""
    path, _ = _marked(tmp_path)
    run = CliRunner().invoke(main, ["evaluate", "clean", "--models-dir", str(models), "--data", str(path),
                                    "--labels", "T1=fists,T2=feet", "--bad-events", "1023"], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    assert "note: left out 3 trial(s) of marked_raw.fif: 1 overlap BAD_blink" in run.output, run.output
