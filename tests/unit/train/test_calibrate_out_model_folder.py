"""``calibrate --out`` naming a model's own folder (not the registry that holds it) is refused before any work
(audit s51).

Before: ``calibrate ... --name x --out models/s001`` wrote ``models/s001/x/`` with no word: the registry ``models``
then listed ``x@1.0.0`` as a version kept in ``s001``'s folder (where ``--overwrite`` keeps a replaced version), and
an ``--overwrite`` of ``s001`` carried ``x`` along. Real files: the bundled model's folder, copied; the repository's
S001 subset.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from bci_stream.cli import main
from support.common import REPO, SUBSET_S001_21CH, subset_file

R05, R06 = SUBSET_S001_21CH / "S001R05.edf", SUBSET_S001_21CH / "S001R06.edf"


def test_out_in_a_model_folder_is_refused_naming_the_registry(tmp_path: Path) -> None:
    model = tmp_path / "models" / "eegmmidb-s001-gru"
    shutil.copytree(REPO / "models" / "eegmmidb-s001-gru", model)
    before = sorted(p.name for p in model.iterdir())
    res = CliRunner().invoke(main, ["calibrate", "--no-progress", str(subset_file(R05)), str(subset_file(R06)),
                                    "--labels", "T1=fists,T2=feet", "--name", "x", "--out", str(model)],
                             catch_exceptions=False)
    assert res.exit_code == 2, res.output
    assert (f"--out {model} is the folder of model eegmmidb-s001-gru@" in res.output
            and f"not a model registry: give the registry folder that holds it ({model.parent})" in res.output)
    assert "calibrating" not in res.output  # before the work
    assert sorted(p.name for p in model.iterdir()) == before


def test_a_kept_versions_folder_names_the_registry_and_a_stray_card_is_no_model(tmp_path: Path, monkeypatch) -> None:
    """Review s51 F4: ``--out REG/NAME/1.0.0`` (a kept version's folder) named ``REG/NAME``, itself refused next;
    ``--out .`` named ``.``; a registry holding a ``model.json`` that is no card was refused (the registry ignores
    it)."""
    from bci_stream.train.classical.model_version import registry_problem

    model = tmp_path / "models" / "m"
    shutil.copytree(REPO / "models" / "eegmmidb-s001-gru", model)
    shutil.copytree(REPO / "models" / "eegmmidb-s001-gru", model / "1.0.0")
    why = registry_problem(model / "1.0.0")
    assert why is not None and why.endswith(f"give the registry folder that holds it ({tmp_path / 'models'}), or "
                                            "another folder"), why
    monkeypatch.chdir(model)
    why = registry_problem(".")
    assert why is not None and f"({tmp_path / 'models'})" in why, why
    (tmp_path / "models" / "model.json").write_text("{}")  # a stray file at the registry's root
    assert registry_problem(tmp_path / "models") is None
