"""Ctrl-C in ``calibrate`` after its export leaves the registry as it was (audit s64cal F1, F2).

Before: a SIGINT between the export and the report (the step cost's measurement, ~1 s) left ``OUT/NAME`` holding a
model without its report, listed and served, and the same command again was refused (``--name ... already holds``);
and a SIGINT during onnxruntime's first import (the export's parity check) printed a 40-line traceback ending in
``ImportError: initialization failed`` (onnxruntime re-raises the interrupt as its own error). The model and its report
are now written in a private folder that replaces ``OUT/NAME`` as one change once both are there, and an interrupt
raised as an ImportError ends as any Ctrl-C does (``Aborted!``, exit 1).

The interrupt is raised where the audit's SIGINT landed: in the step cost's measurement, the last step before the
report (real files, a real export and parity check with onnxruntime)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bci_stream.cli import interrupted, main
from support.common import SUBSET_S001_21CH

R05, R06 = SUBSET_S001_21CH / "S001R05.edf", SUBSET_S001_21CH / "S001R06.edf"


def calibrate(models: Path, *extra: str):
    """A small real calibration (8 channels, one decoder per family, no GRU: the registry's writes are the subject)."""
    return CliRunner().invoke(main, ["calibrate", "--no-progress", str(R05), str(R06), "--labels", "T1=fists,T2=feet",
                                     "--name", "m", "--out", str(models), "--channels", "FC3,FCz,FC4,C3,Cz,C4,CP3,CP4",
                                     "--no-average", "--no-combined", "--no-recurrent", *extra],
                              catch_exceptions=False)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``OUT/m`` as ``calibrate(OUT)`` into an empty registry leaves it (m@1.0.0 and its report), calibrated once for
    the tests that start from such a model: each copies it into its own registry."""
    models = tmp_path_factory.mktemp("calibrated") / "models"
    res = calibrate(models)
    assert res.exit_code == 0, res.output
    assert versions(models) == (["m"], "1.0.0") and (models / "m" / "report" / "report.json").is_file()
    return models / "m"


def ctrl_c(monkeypatch: pytest.MonkeyPatch, as_import_error: bool) -> None:
    def measure(*args, **kwargs):
        if as_import_error:  # what onnxruntime's __init__ makes of a KeyboardInterrupt while it loads
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as exc:
                raise ImportError("initialization failed") from exc
        raise KeyboardInterrupt

    monkeypatch.setattr("bci_stream.train.classical.step_cost.step_cost", measure)


def versions(models: Path) -> tuple[list[str], str | None]:
    """Every name in ``models`` (hidden ones too), and the card's version of ``models/m`` (None: no card)."""
    card = models / "m" / "model.json"
    return (sorted(p.name for p in models.iterdir()) if models.exists() else [],
            json.loads(card.read_text())["version"] if card.exists() else None)


@pytest.mark.parametrize("as_import_error", [False, True])
def test_ctrl_c_after_the_export_leaves_the_registry_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               as_import_error: bool) -> None:
    models = tmp_path / "models"
    with monkeypatch.context() as patch:
        ctrl_c(patch, as_import_error)
        res = calibrate(models)
    assert res.exit_code == 1 and res.output.rstrip().endswith("Aborted!"), res.output
    assert "Traceback" not in res.output
    assert versions(models) == ([], None)  # no model, no staging folder left
    res = calibrate(models)  # the name is free: the same command works
    assert res.exit_code == 0, res.output
    assert versions(models) == (["m"], "1.0.0") and (models / "m" / "report" / "report.json").is_file()
    report_before = (models / "m" / "report" / "report.json").read_bytes()
    with monkeypatch.context() as patch:  # --overwrite interrupted: the model it would replace stays, whole
        ctrl_c(patch, as_import_error)
        res = calibrate(models, "--overwrite")
    assert res.exit_code == 1 and "Aborted!" in res.output, res.output
    assert versions(models) == (["m"], "1.0.0")
    assert (models / "m" / "report" / "report.json").read_bytes() == report_before
    assert not (models / "m" / "1.0.0").exists()  # nothing archived: nothing replaced


def test_an_overwrite_keeps_the_replaced_version_and_writes_the_new_report(tmp_path: Path, calibrated: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(calibrated, models / "m")  # what `calibrate(models)` leaves (exit 0: the fixture checks it)
    (models / "m" / "NOTES.txt").write_text("a lab's own notes\n")
    stale = models / "m" / "model.step1.onnx"  # a single-sample graph the replaced model had (review s64 F1)
    if not stale.exists():
        stale.write_bytes(b"an older model's single-sample graph")
    res = calibrate(models, "--overwrite")
    assert res.exit_code == 0, res.output
    assert versions(models) == (["m"], "1.0.1")
    report = json.loads((models / "m" / "report" / "report.json").read_text())
    assert report["version"] == "1.0.1" and report["step_cost"]["p50_us"] > 0, report["step_cost"]
    assert json.loads((models / "m" / "1.0.0" / "model.json").read_text())["version"] == "1.0.0"
    assert (models / "m" / "1.0.0" / "report" / "report.json").is_file()
    assert (models / "m" / "NOTES.txt").read_text() == "a lab's own notes\n"  # the folder's other files kept
    single = (json.loads((models / "m" / "model.json").read_text())["step"] or {}).get("single_step")
    assert stale.exists() == (single is not None)  # the model's own files are the new model's only


def test_a_model_written_to_the_folder_meanwhile_is_not_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  calibrated: Path) -> None:
    """Audit s64cal F8: a model that appeared in OUT/NAME while calibrate ran (a second calibrate of that name) was
    replaced with no word, both NAME@1.0.0. Now refused at the end, the other model kept, nothing of this one left."""
    from bci_stream.train.classical import step_cost

    models = tmp_path / "models"
    models.mkdir()
    shutil.copytree(calibrated, tmp_path / "other")  # the other run's model, m@1.0.0, kept aside as "other"
    measure = step_cost.step_cost

    def finished_meanwhile(*args, **kwargs):
        shutil.copytree(tmp_path / "other", models / "m")
        return measure(*args, **kwargs)

    monkeypatch.setattr(step_cost, "step_cost", finished_meanwhile)
    res = calibrate(models)
    assert res.exit_code == 2, res.output
    assert "was changed while this calibration ran: it holds model m@1.0.0" in res.output
    assert "nothing was replaced" in res.output
    assert versions(models) == (["m"], "1.0.0")
    assert (models / "m" / "model.json").read_bytes() == (tmp_path / "other" / "model.json").read_bytes()


def test_interrupted_follows_causes_and_contexts() -> None:
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ImportError("initialization failed")  # noqa: B904 - a context, not a cause
    except ImportError as exc:
        assert interrupted(exc)
    assert not interrupted(ImportError("no module named x"))
