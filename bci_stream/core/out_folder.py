"""Whether a command can write into an output folder, asked before its work (a calibration, a training, a live
evaluation) rather than found when it writes, minutes later, as a traceback."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def out_folder_problem(path: Path | str, flag: str) -> str | None:
    """Why folder ``path`` (given as ``flag``, e.g. ``--out``) cannot be created or written to, or None.

    The nearest part of ``path`` that exists must be a folder this process can create a folder in (tried: a
    temporary folder made and removed at once, so a read-only mount, ``/proc`` or a full quota are found too)."""
    path = Path(path).expanduser()
    there = path
    try:  # a folder on the way the user may not search raises (EACCES), as does a name too long
        while not there.exists() and there != there.parent:
            there = there.parent
        if not there.is_dir():
            return f"{flag} {path}: {there} is a file, not a folder: give a folder"
    except OSError as exc:  # before: a traceback (serve did not start with its recordings_dir under /root)
        return f"{flag} {path}: cannot look in {there} ({exc.strerror or exc}): give a folder you can write to"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".bci-stream-probe-", dir=there))
    except OSError as exc:
        return f"{flag} {path}: cannot write in {there} ({exc.strerror or exc}): give a folder you can write to"
    return None
