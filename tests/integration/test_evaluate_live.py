"""`bci-stream evaluate --live`: real EEG replayed on LSL through a real in-process service, scored.

Data: the first 40 s of ``tests/data/eegmmidb/S001/S001R06.edf`` (PhysioNet EEGMMIDB, imagined
fists / feet, 64 channels at 160 Hz; the original file, shipped with the repository), written to an NPZ
file so that the live run and the offline ``evaluate`` read the very same samples. The epoch references
train on R05 of ``tests/data/eegmmidb/S001-21ch`` (the 21 sensorimotor channels the model uses, samples
and events as in the original; ``tests/support/common.py`` says where each file comes from).
Model: the bundled ``eegmmidb-s001-gru`` (GRU, 21 sensorimotor channels, outputs rest / fists / feet).
The live decoding must equal the offline one: every sample decoded once, max abs difference <= 1e-4,
and the same decision for every trial at every decision time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from support.common import REPO, SUBSET_R06, SUBSET_S001_21CH, subset_file

EDF = SUBSET_R06
CALIBRATION = SUBSET_S001_21CH / "S001R05.edf"
MODEL = "eegmmidb-s001-gru"
MODELS = REPO / "models"
CROP_S = 40.0
TIMES = (0.5, 1.0, 2.0, 3.0)

pytestmark = [pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first CROP_S seconds of S001R06 (every channel, its events), as an NPZ file."""
    from bci_stream.io import Recording, load_recording, save_npz

    rec = load_recording(subset_file(EDF))
    n = int(round(CROP_S * rec.sfreq))
    crop = Recording(data=rec.data[:, :n], sfreq=rec.sfreq, ch_names=rec.ch_names,
                     events=[e for e in rec.events if e.onset < n], source=f"{EDF.name}[0:{n}]")
    return save_npz(crop, tmp_path_factory.mktemp("live") / "S001R06_40s.npz")


@pytest.fixture(scope="module")
def live(recording: Path) -> dict[str, Any]:
    from bci_stream.train.evaluate.live import evaluate_live

    return evaluate_live(MODEL, [recording], None, models_dir=MODELS, speed=16.0, decision_times=TIMES)


def test_every_sample_sent_is_decoded_once_and_equals_offline(live: dict[str, Any]) -> None:
    f = live["files"][0]
    n = int(round(CROP_S * 160))
    assert f["sent"] == f["decoded"] == f["n_times"] == n, (f["sent"], f["decoded"], f["n_times"])
    assert f["missing"] == f["duplicates"] == f["outside"] == 0
    counters = f["service"]["counters"]
    assert counters["samples_in"] == counters["samples_out"] == n and counters["gaps"] == 0
    assert f["index_anchor"].endswith("cue markers") and f["max_off_grid"] < 1e-3
    assert f["max_abs_diff"] <= 1e-4
    assert f["no_loss"] and live["checks"]["passed"] and live["checks"]["decisions_identical"]


def test_live_accuracy_equals_the_offline_evaluate_of_the_same_file(live: dict[str, Any], recording: Path) -> None:
    """The existing offline `evaluate` path (decode_offline on the file) gives the same trial accuracy."""
    from bci_stream.train.evaluate.offline import evaluate_target

    offline = evaluate_target(MODEL, [recording], models_dir=MODELS, times_s=TIMES)["metrics"]
    f = live["files"][0]
    assert f["n_trials"] == offline["n_trials"] >= 4
    for t in TIMES:
        key = f"{t:g}s"
        want = offline["trial_accuracy"][key]
        got = f["accuracy"][key]
        assert (got["accuracy"], got["correct"], got["n_trials"]) == \
            (want["instant"], want["instant_correct"], want["n_trials"]), key
        lo, hi = got["ci95"]
        assert 0.0 <= lo <= got["accuracy"] <= hi <= 1.0
    assert live["overall"]["accuracy"] == f["accuracy"]


def test_every_trial_decision_is_the_offline_one(live: dict[str, Any], recording: Path) -> None:
    """Per trial and decision time: the live decision is argmax over fists/feet of decode_offline at cue + t."""
    from bci_stream.io import load_recording
    from bci_stream.engine.offline import decode_offline
    from bci_stream.core.registry import ModelRegistry

    entry = ModelRegistry(MODELS).get(MODEL)
    card = entry.card
    rec = load_recording(recording, ch_names=card.ch_names)
    y = decode_offline(entry, rec.data.T.astype(np.float32))
    classes = live["settings"]["trial_classes"]
    assert classes == ["fists", "feet"]
    ids = [card.output.labels.index(c) for c in classes]
    trials = live["files"][0]["trials"]
    assert len(trials) >= 4
    for tr in trials:
        for t in TIMES:
            at = tr["onset"] + int(round(t * card.sfreq))
            want = classes[int(np.argmax(y[at, ids]))] if at < len(y) else None
            assert tr["decisions"][f"{t:g}s"] == want, (tr["onset_s"], t)


def test_cli_live_with_the_epoch_references(recording: Path, tmp_path: Path) -> None:
    """`bci-stream evaluate MODEL --live --labels T1=fists,T2=feet --reference-train R05`: table and JSON, with both
    epoch baselines (CSP+LDA and TS+LR) beside the live figures."""
    from bci_stream.cli import main

    subset_file(CALIBRATION)

    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "evaluate", MODEL, "--live", "--data", str(recording), "--labels", "T1=fists,T2=feet", "--speed", "16",
        "--reference-train", str(CALIBRATION), "--models-dir", str(MODELS), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "trial accuracy [Wilson 95% CI]" in result.output and "CSP+LDA @2.5s" in result.output
    assert "TS+LR @2.5s" in result.output and "TS+LR: 8-30 Hz, epoch 0.5-2.5 s after cue, OAS" in result.output
    assert "PASSED" in result.output
    res = json.loads((out / "evaluation_live.json").read_text(encoding="utf-8"))
    assert res["settings"]["label_map"] == {"T1": "fists", "T2": "feet"}
    assert res["checks"]["passed"] and res["files"][0]["sent"] == res["files"][0]["decoded"]
    ref = res["reference"]
    assert ref["decision_time_s"] == 2.5 and ref["n_train_trials"] >= 10
    assert ref["overall"]["n_trials"] >= 4 and 0.0 <= ref["overall"]["accuracy"] <= 1.0
    ts = res["reference_ts_lr"]  # the other epoch baseline, on the same trials
    assert ts["method"] == "TS+LR" and ts["decision_time_s"] == 2.5 and ts["n_train_trials"] == ref["n_train_trials"]
    assert ts["overall"]["n_trials"] == ref["overall"]["n_trials"] and 0.0 <= ts["overall"]["accuracy"] <= 1.0


def test_bad_arguments_are_named_before_anything_starts(recording: Path) -> None:
    from bci_stream.train.evaluate.live import LiveEvaluationError, evaluate_live

    with pytest.raises(LiveEvaluationError, match=r"speed must be >= 1 and <= 32.*got 0"):
        evaluate_live(MODEL, [recording], None, models_dir=MODELS, speed=0)
    with pytest.raises(LiveEvaluationError, match=r"speed must be >= 1 .*slower replays read as sample loss.*got 0.5"):
        evaluate_live(MODEL, [recording], None, models_dir=MODELS, speed=0.5)
    with pytest.raises(LiveEvaluationError,
                       match=r"trial_classes \(--trial-classes\) must be classes of the label map.*'left'"):
        evaluate_live(MODEL, [recording], None, models_dir=MODELS, trial_classes=["fists", "left"])
    with pytest.raises(LiveEvaluationError,
                       match=r"label_map \(--labels\) must map events to classes the model outputs.*'hands'"):
        evaluate_live(MODEL, [recording], {"T1": "hands", "T2": "feet"}, models_dir=MODELS)
    with pytest.raises(LiveEvaluationError,
                       match=r"label_map \(--labels\) names event\(s\) \['T9'\] that occur in none of the test files"):
        evaluate_live(MODEL, [recording], {"T1": "fists", "T9": "feet"}, models_dir=MODELS)
