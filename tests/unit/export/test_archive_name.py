"""Which folder keeps a model replaced by another version of itself (``folder_swap.archive_name``), and that the
note saying so is given only when it is kept (review s49 F5: a version named like a folder the model already has,
``report``, was not copied, yet calibrate's note and train's report said it was kept and resolved)."""

from __future__ import annotations

import json
from pathlib import Path

from bci_stream.train.export.folder_swap import archive_name, kept_note


def card(folder: Path, name: str, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_text(json.dumps({"name": name, "version": version}))
    return folder


def test_the_replaced_version_is_kept_under_its_version_unless_nothing_or_no_other_version_is_there(tmp_path):
    m = card(tmp_path / "m", "m", "1.0.0")
    assert archive_name(m, "m", "1.0.1") == "1.0.0"
    assert kept_note(m, "m", "1.0.1") == (f"; it is kept in {m / '1.0.0'} (m@1.0.0 still resolves; remove that "
                                          "folder once nothing asks for that version)")
    assert archive_name(m, "m", "1.0.0") is None  # the same version rewritten (upgrade-model)
    assert archive_name(m, "other", "1.0.1") is None  # another model's card
    assert archive_name(tmp_path / "none", "m", "1.0.0") is None
    assert archive_name(card(tmp_path / "odd", "odd", "../x"), "odd", "1") is None  # no plain folder name


def test_a_version_named_like_a_folder_the_model_has_is_not_said_to_be_kept(tmp_path):
    m = card(tmp_path / "m", "m", "report")
    (m / "report").mkdir()  # calibrate's report folder
    assert archive_name(m, "m", "report.1") is None and kept_note(m, "m", "report.1") == ""
    kept_before = card(tmp_path / "k", "k", "1.0.1")
    card(kept_before / "1.0.1", "k", "1.0.1")  # already there (a copy): not replaced by another
    assert archive_name(kept_before, "k", "1.0.2") is None
