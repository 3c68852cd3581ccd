"""The version of a model ``bci-stream train`` exports (audit D4): as ``calibrate``'s, never a ``NAME@VERSION`` that
the registry folder already holds, so ``train --overwrite`` of a model gives the new one the next version (before, it
kept ``export.version``: a running service then listed other bytes under the same ``NAME@VERSION``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("mne")

from bci_stream.core.registry import ModelRegistry  # noqa: E402
from bci_stream.train.classical.model_version import next_version, version_to_write  # noqa: E402
from support.common import subset_file  # noqa: E402
from support.train_data import S001, tiny_config_text  # noqa: E402

NAME = "tiny-s001-gru"
QUICK = "csp_lda = false\n[evaluation.distillation]\nenabled = false"


@pytest.fixture(scope="module")
def s001() -> Path:
    for run in ("S001R05.edf", "S001R06.edf", "S001R10.edf"):
        subset_file(S001 / run)
    return S001


def _write_config(root: Path, *, seed: int = 3, version: str | None = None) -> Path:
    text = tiny_config_text(root / "run", export_dir=root / "models" / "tiny", bidirectional=False, lookaheads="[]",
                            extra=QUICK).replace("seed = 3", f"seed = {seed}")
    if version is not None:
        text = text.replace(f'name = "{NAME}"', f'name = "{NAME}"\nversion = "{version}"')
    cfg = root / "run.toml"
    cfg.write_text(text, encoding="utf-8")
    return cfg


def _train(args: list[str]):
    from click.testing import CliRunner

    from bci_stream.cli import main

    torch.set_num_threads(1)
    return CliRunner().invoke(main, ["train", "--no-progress", *args])


def _card(folder: Path) -> dict:
    return json.loads((folder / "model.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def first(tmp_path_factory, s001) -> Path:
    """A first run's exported model (``tiny-s001-gru@1.0.0``) in ``models/tiny``."""
    root = tmp_path_factory.mktemp("first")
    res = _train([str(_write_config(root))])
    assert res.exit_code == 0, res.output
    assert _card(root / "models" / "tiny")["version"] == "1.0.0"
    return root / "models" / "tiny"


def _registry_with(first: Path, tmp_path: Path, *folders: str) -> Path:
    models = tmp_path / "models"
    for folder in folders:
        shutil.copytree(first, models / folder)
    return models


def test_overwrite_exports_the_next_version_and_names_both(first, tmp_path):
    models = _registry_with(first, tmp_path, "tiny")
    old = _card(models / "tiny")
    refs = []
    for seed in (4, 5):  # 1.0.1, then 1.0.2: never back to the config's 1.0.0, which named other bytes before
        before = _card(models / "tiny")
        res = _train([str(_write_config(tmp_path, seed=seed)), "--overwrite"])
        assert res.exit_code == 0, res.output
        new = _card(models / "tiny")
        refs.append(f"{NAME}@{new['version']}")
        assert new["sha256"] != before["sha256"]
        assert (f"--overwrite: replaced the model in {models / 'tiny'}: {NAME}@{before['version']} "
                f"(sha256 {before['sha256'][:12]}…), by {refs[-1]}") in res.output
        note = (f"version: {refs[-1]}, after {NAME}@{before['version']} in {models} (export.version '1.0.0' is not "
                "above it; a new version, so that the registry, a decoder's status, its decoded stream and "
                "recordings tell the two models apart)")
        assert note in res.output and f"exported {refs[-1]} to {models / 'tiny'}" in res.output
        report = json.loads((tmp_path / "run" / "report.json").read_text(encoding="utf-8"))
        assert report["export"]["ref"] == refs[-1] and report["export"]["version_note"] == note
    assert refs == [f"{NAME}@1.0.1", f"{NAME}@1.0.2"]
    # what a service serving this folder lists: the new bytes under the new version, and each version replaced
    # kept whole in a folder of its own (a config file's decoder pinned to NAME@1.0.0 still starts: audit s46 S10)
    registry = ModelRegistry(models)
    entries, problems = registry.scan()
    assert problems == [] and [(e.card.ref, e.directory) for e in entries] == [
        (f"{NAME}@1.0.0", models / "tiny" / "1.0.0"), (f"{NAME}@1.0.1", models / "tiny" / "1.0.1"),
        (refs[-1], models / "tiny")]
    assert registry.get(NAME).card.sha256 == new["sha256"]
    assert registry.get(f"{NAME}@1.0.0").card.sha256 == old["sha256"]
    assert f"the model replaced, {NAME}@1.0.1, is kept in {models / 'tiny' / '1.0.1'}" in res.output
    assert old["sha256"] != new["sha256"]


def test_a_copy_elsewhere_in_the_registry_is_not_given_a_twin(first, tmp_path):
    models = _registry_with(first, tmp_path, "tiny-kept")  # the same name@version in another folder of models/
    res = _train([str(_write_config(tmp_path, seed=4))])  # a fresh export folder: no --overwrite needed
    assert res.exit_code == 0, res.output
    assert _card(models / "tiny")["version"] == "1.0.1" and f"version: {NAME}@1.0.1, after {NAME}@1.0.0" in res.output
    entries, problems = ModelRegistry(models).scan()
    assert problems == [] and sorted(e.card.ref for e in entries) == [f"{NAME}@1.0.0", f"{NAME}@1.0.1"]


def test_an_explicit_version_is_kept_when_above_every_one_held_else_the_next(first, tmp_path):
    models = _registry_with(first, tmp_path, "tiny")
    res = _train([str(_write_config(tmp_path, seed=4, version="2.0.0")), "--overwrite"])
    assert res.exit_code == 0, res.output
    assert _card(models / "tiny")["version"] == "2.0.0" and "version: " not in res.output
    assert f"tiny-s001-gru@1.0.0 (sha256 {_card(first)['sha256'][:12]}…), by {NAME}@2.0.0" in res.output
    # the config asks again for 2.0.0, which now names other bytes: the next version, said
    res = _train([str(_write_config(tmp_path, seed=5, version="2.0.0")), "--overwrite"])
    assert res.exit_code == 0, res.output
    assert _card(models / "tiny")["version"] == "2.0.1"
    assert f"version: {NAME}@2.0.1, after {NAME}@2.0.0 in {models} (export.version '2.0.0' is not above" in res.output


def _card_folder(first: Path, folder: Path, name: str, version: str) -> None:
    shutil.copytree(first, folder)
    card = _card(folder) | {"name": name, "version": version}
    (folder / "model.json").write_text(json.dumps(card), encoding="utf-8")


def test_version_to_write_follows_calibrates_rule(first, tmp_path):
    models = tmp_path / "models"
    target = models / "target"
    assert version_to_write(models, "m", "1.2.0", folder=target) == ("1.2.0", None)  # nothing held (no folder yet)
    _card_folder(first, target, "m", "1.0.3")
    assert version_to_write(models, "m", "1.0.0", folder=target) == ("1.0.4", "1.0.3")  # below the highest
    assert version_to_write(models, "m", "1.0.3", folder=target) == ("1.0.4", "1.0.3")  # the one replaced
    assert version_to_write(models, "m", "1.0.10", folder=target) == ("1.0.10", "1.0.3")  # above: kept
    assert version_to_write(models, "other", "1.0.0", folder=target) == ("1.0.0", None)  # another name's folder
    _card_folder(first, models / "copy", "m", "1.1.0")  # a kept copy elsewhere in the registry folder counts
    assert version_to_write(models, "m", "1.0.10", folder=target) == ("1.1.1", "1.1.0")
    # the folder replaced counts even when the registry cannot read its card (as for calibrate's OUT/NAME)
    for folder, version in ((models / "copy", "1.1.0"), (target, "3.0")):  # cards without their sfreq
        card = {k: v for k, v in _card(folder).items() if k != "sfreq"} | {"version": version}
        (folder / "model.json").write_text(json.dumps(card), encoding="utf-8")
    assert [e.card.ref for e in ModelRegistry(models).scan()[0]] == []
    assert version_to_write(models, "m", "1.0.0", folder=target) == ("3.1", "3.0")
    assert next_version(models, "target") == ("1.0.0", None)  # calibrate's: OUT/NAME by default, as before
