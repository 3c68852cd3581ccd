"""The pins root is used only while it is this user's own (found by an audit of non-root deployments: another local
user made ``/tmp/bci-stream-pins-<uid>`` first, world-writable, then replaced a running decoder's copy with an error
of their own, which its next worker took as final, or with a model of their own, which it would have run). A root
that others may write, that belongs to another user or is a symbolic link is not used: no copy is read or made
there. Real folders, ownership changed as root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bci_stream.service import model_pin
from bci_stream.service.model_pin import has_pin, load_pinned, pin_error, root_problem, sweep_stale


@pytest.fixture()
def root(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "pins"
    monkeypatch.setenv(model_pin.PINS_ENV, str(path))
    return path


def plant(root: Path, decoder_id: str) -> None:
    """Another user's "copy" of a decoder's model: an error its next worker would end in."""
    (root / decoder_id / "0009-error").mkdir(parents=True)
    (root / decoder_id / "0009-error" / "error.txt").write_text("planted by another user\n")


def test_a_root_others_may_write_is_neither_read_nor_written(root):
    root.mkdir()
    plant(root, "d1")
    root.chmod(0o777)
    assert root_problem() == f"{root} may be written by other users (mode 777)"
    assert not has_pin("d1") and load_pinned("d1") is None  # before: the planted error, final
    with pytest.raises(PermissionError, match="the model copies' folder \\(BCI_STREAM_PINS_DIR\\) is not used: "):
        pin_error("d2", "x")
    assert sweep_stale() == [] and (root / "d1" / "0009-error" / "error.txt").is_file()  # not its own to clean
    root.chmod(0o700)  # its own again: used
    assert root_problem() is None and has_pin("d1")


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="chown to another user needs root")
def test_a_root_of_another_user_or_a_symbolic_link_is_not_used(root, tmp_path):
    root.mkdir(mode=0o700)
    plant(root, "d1")
    os.chown(root, 65534, 65534)
    assert root_problem() == f"{root} belongs to uid 65534, not to this service's uid 0"
    assert not has_pin("d1")
    os.chown(root, 0, 0)
    mine = tmp_path / "elsewhere"
    root.rename(mine)
    root.symlink_to(mine)
    assert root_problem() == f"{root} is a symbolic link (another user may have put it there)"
    assert not has_pin("d1")
