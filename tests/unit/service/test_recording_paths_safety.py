"""Recordings stay inside recordings_dir and private to the service's user and group (audit s46, security review):

* a symbolic link among a request's folders (``escape -> /elsewhere``) let ``out`` or ``record_path`` write outside
  recordings_dir, which the docs say a request never does: refused, naming the link's target;
* a dangling link at the file's own name was accepted (201) and failed later, naming ``record_path`` for ``out``:
  refused at once, as an existing file is;
* recordings were created ``0644`` in folders ``0755`` under the usual umask: EEG of people readable by every local
  user; now ``0640`` and ``0750`` (the umask may take more away).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bci_stream.service.record_file import RecordFile
from bci_stream.service.record_paths import record_path_refusal
from bci_stream.service.recordings import Recordings


def _recordings(root: Path) -> Recordings:
    return Recordings(str(root))


def test_a_link_out_of_recordings_dir_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "rec", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    why = record_path_refusal(str(root), "escape/leak.xdf")
    assert why is not None and "leads out of recordings_dir" in why and str(outside) in why, why
    why = _recordings(root).out_refusal("escape/leak.xdf")
    assert why is not None and why.startswith("out 'escape/leak.xdf' cannot be written: its folder"), why
    (root / "inside").symlink_to(root / "real", target_is_directory=True)  # a link that stays inside is fine
    (root / "real").mkdir()
    assert record_path_refusal(str(root), "inside/ok.xdf") is None


def test_a_dangling_link_at_the_file_is_refused_at_once(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    root.mkdir()
    (root / "dangling.xdf").symlink_to(tmp_path / "nowhere.xdf")
    assert "must not exist" in (record_path_refusal(str(root), "dangling.xdf") or "")
    why = _recordings(root).out_refusal("dangling.xdf")
    assert why is not None and why.startswith("out must not exist"), why


def test_recordings_are_not_readable_by_others(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        f = RecordFile(tmp_path / "rec" / "s01" / "run1.xdf")
        f.create(b"XDF:")
        os.close(f.fd)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "rec" / "s01" / "run1.xdf").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "rec" / "s01").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "rec").stat().st_mode) == 0o750
