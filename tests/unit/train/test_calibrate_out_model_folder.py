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
