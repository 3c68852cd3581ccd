"""A folder in the working directory named as a registry model, that is no model (a subject's recordings in ``s01/``
beside a model ``s01``), no longer hides the model (audit s43, D2): offline ``evaluate NAME --models-dir DIR`` and
``inspect NAME --models-dir DIR`` opened the folder and failed (``s01 is not a model folder: it has no model.json``),
while ``evaluate --live`` found the model."""

from __future__ import annotations

import pytest

from bci_stream.core.errors import ModelError
from bci_stream.core.registry import open_model_ref
from bci_stream.train.evaluate.offline import _load_target


def test_a_folder_of_the_models_name_that_is_no_model_gives_the_registrys_model(models_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny-gru").mkdir()
    (tmp_path / "tiny-gru" / "run1.vhdr").write_text("recordings, not a model\n")
    entry = open_model_ref("tiny-gru", models_dir)
    assert entry.card.name == "tiny-gru" and entry.directory.resolve().is_relative_to(models_dir.resolve()), entry
    assert _load_target("tiny-gru", models_dir)["name"] == entry.card.ref  # offline evaluate
    (tmp_path / "s01").mkdir()  # a folder named as no model of the registry either: both said
    with pytest.raises(ModelError) as err:
        open_model_ref("s01", models_dir)
    assert str(err.value).startswith(f"s01 is not a model folder (it has no model.json), nor a model of the registry "
                                     f"at {models_dir} ("), err.value


def test_a_model_folder_is_still_opened_as_given(models_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(models_dir)  # ./tiny-gru is the model folder itself: opened as the folder, as before
    assert open_model_ref("tiny-gru", tmp_path / "empty-registry").card.name == "tiny-gru"
