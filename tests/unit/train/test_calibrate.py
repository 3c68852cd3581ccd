"""`bci-stream calibrate` end to end on real EEGMMIDB runs, and its clear errors on bad inputs (exit code 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bci_stream.cli import main
from bci_stream.train.classical.data import data_root

S001 = data_root() / "eegmmidb" / "S001"
R05, R06 = S001 / "S001R05.edf", S001 / "S001R06.edf"

pytestmark = pytest.mark.skipif(
    not (R05.is_file() and R06.is_file()),
    reason=f"real EEG not found: {S001} lacks S001R05.edf/S001R06.edf (set BCI_STREAM_DATA or provide ../shared/data)")

LABELS = "T1=fists,T2=feet"


def _run(args: list[str]):
    return CliRunner().invoke(main, ["calibrate", "--no-progress", *args], catch_exceptions=False)


def _npz_variant(tmp_path: Path, name: str, *, keep_events=None, drop_channels: int = 0,
                 sfreq: float | None = None) -> Path:
    """A real run (S001R05) rewritten as NPZ with some events, channels or the rate changed."""
    from bci_stream.io import load_recording
    from bci_stream.io.npz import save_npz
    from bci_stream.io.recording import Recording

    rec = load_recording(R05)
    events = [e for e in rec.events if keep_events is None or keep_events(e)]
    n = rec.n_chans - drop_channels
    out = Recording(data=rec.data[:n], sfreq=sfreq or rec.sfreq, ch_names=rec.ch_names[:n], events=events,
                    source=str(R05))
    return save_npz(out, tmp_path / f"{name}.npz")


def test_calibrate_end_to_end_loads_in_registry_and_step_model(tmp_path: Path) -> None:
    from bci_stream.engine.step_model import StepModel
    from bci_stream.core.registry import ModelRegistry

    res = _run([str(R05), str(R06), "--labels", LABELS, "--name", "s001-test", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "chosen:" in res.output and "leave-one-run-out over 2 runs" in res.output

    entry = ModelRegistry(tmp_path).get("s001-test")
    assert entry.card.output.labels == ["fists", "feet"]
    assert entry.card.architecture.family in ("csp_lda", "riemann")
    model = StepModel(entry.onnx_path, entry.card)

    # stream a real run through the exported graph: probabilities, and above chance at cue + 2 s
    from bci_stream.io import load_recording

    rec = load_recording(R06, ch_names=entry.card.ch_names)
    y = model.run(rec.data.T.astype(np.float32), model.new_state())
    assert y.shape == (rec.n_times, 2)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-4)
    cues = [(e.onset, 0 if e.description == "T1" else 1) for e in rec.events if e.description in ("T1", "T2")]
    acc = np.mean([y[o + 320].argmax() == c for o, c in cues])
    assert acc > 0.6, acc  # R06 is a calibration run here: a sanity check, not an evaluation

    report = json.loads((tmp_path / "s001-test" / "report" / "report.json").read_text())
    assert report["chosen_family"] in ("csp_lda", "riemann")
    fam = report["families"][report["chosen_family"]]
    lo, hi = fam["cv_acc_2s_ci95"]
    assert 0 <= lo <= fam["cv_acc"]["2"] <= hi <= 1
    assert set(fam["cv_acc"]) == {"0.5", "1", "2", "3"}
    assert report["chance"]["uniform"] == 0.5
    assert (tmp_path / "s001-test" / "report" / "report.md").is_file()


def _assert_error(res, substring: str) -> None:
    assert res.exit_code == 2, res.output
    assert substring in res.output, res.output
    assert "Traceback" not in res.output


def test_only_one_class_present(tmp_path: Path) -> None:
    one = _npz_variant(tmp_path, "only_t1", keep_events=lambda e: e.description != "T2")
    _assert_error(_run([str(one), "--labels", LABELS, "--name", "x", "--out", str(tmp_path)]),
                  "only one class present")


def test_fewer_than_4_trials_per_class(tmp_path: Path) -> None:
    seen = {"T2": 0}

    def keep(e) -> bool:
        if e.description != "T2":
            return True
        seen["T2"] += 1
        return seen["T2"] <= 3

    few = _npz_variant(tmp_path, "three_t2", keep_events=keep)
    _assert_error(_run([str(few), "--labels", LABELS, "--name", "x", "--out", str(tmp_path)]),
                  "fewer than 4 trials for class(es) {'feet': 3}")


def test_label_names_not_in_files(tmp_path: Path) -> None:
    _assert_error(_run([str(R05), "--labels", "T1=fists,T2=feet,T7=tongue", "--name", "x", "--out", str(tmp_path)]),
                  "--labels names event(s) ['T7'] not in the files")


def test_channels_missing_in_a_recording(tmp_path: Path) -> None:
    short = _npz_variant(tmp_path, "short", drop_channels=3)
    _assert_error(_run([str(R05), str(short), "--labels", LABELS, "--name", "x", "--out", str(tmp_path)]),
                  "channels missing in")
    _assert_error(_run([str(R05), "--labels", LABELS, "--name", "x", "--out", str(tmp_path), "--channels", "C3,Cz,Q9"]),
                  "channels missing in")


def test_sfreq_mismatch_between_runs(tmp_path: Path) -> None:
    other = _npz_variant(tmp_path, "rate", sfreq=128.0)
    _assert_error(_run([str(R05), str(other), "--labels", LABELS, "--name", "x", "--out", str(tmp_path)]),
                  "sfreq mismatch between runs")


def test_bad_labels_and_name(tmp_path: Path) -> None:
    _assert_error(_run([str(R05), "--labels", "T1", "--name", "x", "--out", str(tmp_path)]),
                  "--labels must be EVENT=CLASS pairs")
    _assert_error(_run([str(R05), "--labels", LABELS, "--name", "bad name", "--out", str(tmp_path)]),
                  "--name must match")
