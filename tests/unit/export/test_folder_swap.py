"""A model folder is written as one change (found by an exploratory run: ``calibrate --overwrite`` while a service
served the registry; a request meanwhile met the new ONNX file beside the old card, a 422 "the file was changed or
corrupted after export", or a card half written, 404). The registry is read at the moment the new ONNX file has just
been copied (a spy on the copy): it must still give the old model, verified; afterwards the new one; the folder's
other files (a report) are kept; no hidden staging folder is left or listed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import bci_stream.train.export.step_graph as step_graph
from bci_stream.core.card import ONNX_FILE
from bci_stream.core.registry import ModelRegistry
from bci_stream.train.export.folder_swap import write_folder, write_text_atomic
from support.common import export_tiny

pytest.importorskip("torch")


def test_a_registry_read_while_a_model_is_overwritten_sees_the_old_model_whole(tmp_path, monkeypatch):
    export_tiny(tmp_path, "m", seed=1)
    (tmp_path / "m" / "report.md").write_text("calibration report\n")
    old = ModelRegistry(tmp_path).get("m").card.sha256
    seen = []
    real_copyfile = shutil.copyfile

    def copy_then_read(src, dst, *args, **kwargs):
        out = real_copyfile(src, dst, *args, **kwargs)
        if str(dst).endswith(ONNX_FILE) and tmp_path in Path(dst).parents:
            try:  # a service reading the registry at this moment
                seen.append(ModelRegistry(tmp_path).get("m").card.sha256)
            except Exception as exc:  # noqa: BLE001 - recorded: before, the new file beside the old card
                seen.append(exc)
        return out

    monkeypatch.setattr(step_graph.shutil, "copyfile", copy_then_read)
    export_tiny(tmp_path, "m", seed=2)  # the overwrite
    assert seen == [old], seen  # before: a ModelError (sha256 of the file is not the card's)
    new = ModelRegistry(tmp_path).get("m")
    assert new.card.sha256 != old
    assert (tmp_path / "m" / "report.md").read_text() == "calibration report\n"  # kept
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no staging or replaced folder left


def test_a_failed_write_changes_nothing_and_hidden_folders_are_no_models(tmp_path):
    export_tiny(tmp_path, "m", seed=1)
    before = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}

    def fail(folder):
        (folder / ONNX_FILE).write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_folder(tmp_path / "m", fail, replaced=(ONNX_FILE,))
    assert {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    shutil.copytree(tmp_path / "m", tmp_path / ".m.writing-x")  # as a writer's staging folder looks mid-write
    entries, problems = ModelRegistry(tmp_path).scan()
    assert [e.directory.name for e in entries] == ["m"] and problems == []
    write_text_atomic(tmp_path / "note.txt", "a")
    write_text_atomic(tmp_path / "note.txt", "b")
    assert (tmp_path / "note.txt").read_text() == "b"


def test_a_disk_without_room_for_the_model_is_one_clear_error_naming_the_folder(tmp_path):
    """Found by a storage audit: ``calibrate --out`` on a disk too small for the model ended in a traceback after the
    whole calibration. The export's error is now a BciStreamError (calibrate and train say it in one line, exit 2)
    naming the folder and the cause; nothing is left."""
    from bci_stream.core.errors import BciStreamError
    from support.small_disk import small_disk

    with small_disk(tmp_path / "small", "64k") as disk:
        with pytest.raises(BciStreamError) as info:
            export_tiny(disk, "m", seed=1)
        assert isinstance(info.value, OSError)
        assert str(info.value).startswith(f"model folder {disk / 'm'} cannot be written: [Errno 28] No space left on "
                                          "device")
        assert str(info.value).endswith("; nothing of it changed") and list(disk.iterdir()) == []


def test_a_model_written_under_a_restrictive_umask_is_readable_by_the_services_user(tmp_path):
    """Found by an audit of non-root deployments: under a umask of 077 (a hardened root's) the folder was made 0755 on
    purpose but its files were 0600, so the service's own user could not read the card ("not readable JSON")."""
    def fill(folder):
        (folder / "model.json").write_text("{}")
        (folder / "report").mkdir()
        (folder / "report" / "report.md").write_text("r")

    before = os.umask(0o077)
    try:
        write_folder(tmp_path / "m", fill, replaced=())
    finally:
        os.umask(before)
    modes = {p.relative_to(tmp_path).as_posix(): p.stat().st_mode & 0o777 for p in tmp_path.rglob("*")}
    assert modes == {"m": 0o755, "m/model.json": 0o644, "m/report": 0o755, "m/report/report.md": 0o644}
