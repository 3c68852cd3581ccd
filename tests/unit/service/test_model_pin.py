"""A decoder's own copy of its model (:mod:`bci_stream.service.model_pin`), with real exported models and files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bci_stream.core.errors import ModelError
from bci_stream.service.model_pin import (PINS_ENV, describe_pin, has_pin, load_pinned, pin_dir, pin_error, pin_ref,
                                          pinned_files, unpin, write_pinned)
from bci_stream.train.classical.model_version import bump
from support.common import export_tiny


@pytest.fixture()
def registry(models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A registry of its own (a copy of tiny-gru that a test may replace) and a pins folder of its own."""
    monkeypatch.setenv(PINS_ENV, str(tmp_path / "pins"))
    root = tmp_path / "models"
    shutil.copytree(models_dir / "tiny-gru", root / "tiny-gru")
    return root


def replace(root: Path, seed: int) -> None:
    """Replace ``root/tiny-gru`` by another model of that name (other weights: other sha256)."""
    staging = root.parent / "staging"
    export_tiny(staging, "tiny-gru", "gru", seed=seed)
    shutil.rmtree(root / "tiny-gru")
    shutil.move(str(staging / "tiny-gru"), str(root / "tiny-gru"))


def test_the_copy_outlives_a_replacement_of_the_registry_folder(registry: Path):
    entry = pin_ref("d1", registry, "tiny-gru")
    sha = entry.card.sha256
    assert has_pin("d1") and entry.directory.parent == pin_dir("d1")
    replace(registry, seed=5)
    pinned = load_pinned("d1")
    assert pinned is not None and pinned.card.sha256 == sha
    now = describe_pin(pinned, registry, "tiny-gru")
    assert now["pinned"] is True and now["registry_now"]["sha256"] != sha
    unpin("d1")
    assert not has_pin("d1") and load_pinned("d1") is None


def test_a_copy_of_other_bytes_than_expected_is_refused(registry: Path):
    pin_ref("d2", registry, "tiny-gru")
    first = load_pinned("d2").card.sha256
    replace(registry, seed=6)
    with pytest.raises(ModelError, match="replaced on disk"):
        pin_ref("d2", registry, "tiny-gru", expect_sha=first)
    assert load_pinned("d2").card.sha256 == first  # the current copy stays


def test_an_error_pin_is_what_the_worker_gets(registry: Path):
    pin_ref("d3", registry, "tiny-gru")
    pin_error("d3", "model 'tiny-gru' was replaced on disk: POST the decoder again")
    assert has_pin("d3")
    with pytest.raises(ModelError, match="POST the decoder again"):
        load_pinned("d3")
    assert len([p for p in pin_dir("d3").iterdir() if not p.name.startswith(".")]) == 1  # the older copy removed


def test_files_travel_as_bytes_to_another_node(registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    entry = pin_ref("d4", registry, "tiny-gru")
    files = pinned_files("d4")
    assert set(files) >= {"model.json", "model.onnx"}
    assert write_pinned("d4", files) is False  # already here: not written again
    monkeypatch.setenv(PINS_ENV, str(tmp_path / "node"))
    assert write_pinned("d4", files) is True
    assert load_pinned("d4").card.sha256 == entry.card.sha256
    with pytest.raises(ValueError, match="must be relative"):
        write_pinned("d5", {"../x": b""})


def test_a_copy_that_does_not_verify_is_refused(registry: Path):
    entry = pin_ref("d6", registry, "tiny-gru")
    entry.onnx_path.write_bytes(b"not the model")
    with pytest.raises(ModelError, match="sha256"):
        load_pinned("d6")


@pytest.mark.parametrize("bad", ["", "../x", ".hidden", "a/b"])
def test_a_decoder_id_must_be_a_folder_name(bad: str):
    with pytest.raises(ValueError, match="decoder_id"):
        pin_dir(bad)


def test_a_pinned_name_at_version_replaced_by_the_next_version_names_it(registry: Path):
    """A hot swap pins ``name@version``; ``calibrate --overwrite`` then writes the next version in its place: the
    status said "not found" though the registry held a newer model under that name. It names that one now; a name
    gone altogether is still "not found"."""
    entry = pin_ref("d1", registry, "tiny-gru")
    ref = entry.card.ref
    replace(registry, seed=5)
    card_path = registry / "tiny-gru" / "model.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["version"] = bump(card["version"])
    card_path.write_text(json.dumps(card), encoding="utf-8")
    pinned = load_pinned("d1")
    assert pinned is not None
    now = describe_pin(pinned, registry, ref)["registry_now"]
    assert now == {"ref": f"tiny-gru@{card['version']}", "sha256": card["sha256"]} and ref != now["ref"]
    shutil.rmtree(registry / "tiny-gru")
    assert f"model {ref!r} not found" in describe_pin(pinned, registry, ref)["registry_now"]["error"]


def test_the_registry_file_corrupted_in_place_under_the_same_card_is_an_error(registry: Path):
    """The registry's ``model.onnx`` overwritten in place, its card left as it was: the pin described nothing (the card
    held the pinned sha256), though a new POST of that model is refused and a service restart could not run it (audit
    s63fault F3). ``registry_now`` is the error a POST gets."""
    entry = pin_ref("d1", registry, "tiny-gru")
    pinned = load_pinned("d1")
    assert describe_pin(pinned, registry, "tiny-gru") == {"pinned": True}
    onnx = registry / "tiny-gru" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:1000])
    now = describe_pin(pinned, registry, "tiny-gru")["registry_now"]
    assert now["error"].startswith(f"model '{entry.card.ref}': sha256 of {onnx} is "), now
    assert now["error"].endswith(f"says {entry.card.sha256}; the file was changed or corrupted after export"), now


def test_a_registry_file_that_cannot_be_read_is_an_error_not_a_crash(registry: Path):
    """The registry's ``model.onnx`` unreadable (EIO: a failing disk or mount; here a link to ``/proc/self/mem``,
    whose read fails so): the decoder runs its own copy, and ``registry_now`` says why the registry's is no good
    (review s63 F3: the OSError ended the worker's load, a crash loop into ``error``)."""
    pin_ref("d1", registry, "tiny-gru")
    onnx = registry / "tiny-gru" / "model.onnx"
    onnx.unlink()
    onnx.symlink_to("/proc/self/mem")
    now = describe_pin(load_pinned("d1"), registry, "tiny-gru")
    assert now["pinned"] is True and now["registry_now"]["error"], now
