"""Work done once per pytest run and shared by its xdist workers: exported test models, calibrated models.

Exporting a model (torch import, ONNX export) or calibrating one takes seconds to a minute on a 2-core machine, and
every xdist worker, or every test file, used to do it again. :func:`shared_folder` runs a ``make(folder)`` once per
run for one key, under a file lock in the folder all workers of the run share (as pytest-xdist's documentation
shows: ``tmp_path_factory.getbasetemp().parent`` and ``filelock.FileLock``); every later caller, in any worker, gets
that folder. It lives under the run's base temporary directory, so a new run starts empty (nothing is reused from
an older checkout). :func:`built_once` gives each caller its own copy, for tests that write into the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

__all__ = ["built_once", "shared_folder", "shared_root"]


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every worker of this pytest run sees: the parent of a worker's base temp under xdist (each
    worker's is ``.../pytest-N/popen-gwK``), the base temp itself without xdist (its parent holds earlier runs)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_folder(tmp_path_factory: pytest.TempPathFactory, key: Mapping[str, Any],
                  make: Callable[[Path], None]) -> Path:
    """The folder of ``key`` (a JSON-able mapping: every argument that changes the result), made once per pytest
    run by ``make(folder)``; read only (copy it to change it: :func:`built_once`).

    ``make`` runs under a lock in an empty folder; only when it returns is the folder marked complete (a failed
    ``make`` leaves nothing a later test would take for a result: the next one tries again, and fails the same way).
    """
    text = json.dumps(key, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    root = shared_root(tmp_path_factory) / "run-cache"
    root.mkdir(parents=True, exist_ok=True)
    folder, done = root / digest, root / f"{digest}.done"
    with FileLock(str(root / f"{digest}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            (root / f"{digest}.json").write_text(text + "\n", encoding="utf-8")  # what it was made of, beside it
            done.touch()
    return folder


def built_once(tmp_path_factory: pytest.TempPathFactory, key: str, build: Callable[[Path], None]) -> Path:
    """A fresh folder of this caller holding what ``build(folder)`` wrote, ``build`` run once per pytest run for
    ``key`` (one key, one build: the same build under the same key in every caller)."""
    cache = shared_folder(tmp_path_factory, {"built_once": key}, build)
    mine = tmp_path_factory.mktemp(key)
    shutil.copytree(cache, mine, dirs_exist_ok=True)
    return mine
