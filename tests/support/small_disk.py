"""A small disk for tests of a full one: a tmpfs of ``size`` mounted at a folder, visible only to the command run on it
(``unshare``: a user and mount namespace of its own, as root there; the network shared). Others reach it through
``/proc/<pid>/root/<folder>`` (:func:`seen_from_outside`), e.g. to fill it or free it while the command runs."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def on_small_disk(folder: Path, size: str, argv: list[str]) -> list[str]:
    """``argv`` run with a tmpfs of ``size`` (e.g. ``"512k"``) mounted at ``folder`` (created first); first, that this
    machine lets a user namespace mount one."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            f'mount -t tmpfs -o size=64k tmpfs "{folder}"'], capture_output=True, text=True)
    assert probe.returncode == 0, ("unshare (util-linux) cannot mount a tmpfs in a user namespace here: the test needs "
                                   f"a small disk of its own ({probe.stderr.strip()})")
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
            f'mount -t tmpfs -o size={size} tmpfs "{folder}" && exec "$@"', "sh", *argv]


def seen_from_outside(pid: int, folder: Path) -> Path:
    """``folder`` as process ``pid`` (run by :func:`on_small_disk`) sees it: its small disk."""
    return Path(f"/proc/{pid}/root") / folder.relative_to("/")


def fill(folder: Path) -> Path:
    """Fill the disk of ``folder`` to its last byte with a file (returned: remove it to free the disk)."""
    path = folder / "filler"
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    return path


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``folder`` in a mount namespace kept alive (a ``sleep`` in it) while the block
    runs: its path as any process reaches it (``/proc/<pid>/root/<folder>``), e.g. a service's recordings_dir."""
    proc = subprocess.Popen(on_small_disk(folder, size, ["sleep", "3600"]))
    try:
        seen = seen_from_outside(proc.pid, folder)
        deadline = time.monotonic() + 10
        while not os.path.ismount(seen) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert os.path.ismount(seen), f"the tmpfs at {folder} did not come up"
        yield seen
    finally:
        proc.kill()
        proc.wait()
