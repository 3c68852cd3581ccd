"""The test modules' assertion-rewritten code written once, before pytest-xdist's workers start.

pytest rewrites the ``assert`` statements of every test module and ``conftest.py`` it imports and caches the result
beside the source (``__pycache__/NAME.cpython-311-pytest-X.pyc``), but only where Python may write bytecode: with
``PYTHONDONTWRITEBYTECODE`` set (as on this project's test machines) nothing is cached, and each of ``make test``'s
six workers, which all collect the whole suite, rewrote all ~470 modules again (collection: 15.5 s of CPU per worker
against 8.7 s with the cache, after the Makefile's ``compileall``; ~40 s of the run's CPU). Under xdist the controller
writes the missing ones first, over the machine's cores (the same rewrite, by pytest's own functions, as the workers
would do), and every worker reads them: pytest reads a cached rewrite whether or not it may write one. A pyc is keyed
by its source's hash (pytest's checked-hash pycs), so a changed test module is rewritten again, never run stale.
"""

from __future__ import annotations

import os
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest

_CONFIG: Any = None  # the controller's Config, inherited by the forked writers


def _modules(root: Path, config: pytest.Config) -> list[Path]:
    """The files pytest rewrites when it imports them, of the run's paths (``config.args``: all of ``root`` when
    none lies in it): its test modules (``python_files``), and every ``conftest.py`` of ``root``."""
    import fnmatch

    patterns = config.getini("python_files") or ["test_*.py", "*_test.py"]
    given = [Path(config.invocation_params.dir, a.split("::")[0]).resolve() for a in config.args]
    paths = [p for p in given if p == root or root in p.parents] or [root]
    found = {f for p in paths for f in ([p] if p.is_file() else p.rglob("*.py"))
             if any(fnmatch.fnmatch(f.name, pat) for pat in patterns)}
    found |= set(root.rglob("conftest.py"))
    return sorted(f for f in found if "__pycache__" not in f.parts)


def _pyc(fn: Path) -> Path:
    from _pytest.assertion import rewrite

    return rewrite.get_cache_dir(fn) / (fn.name[:-3] + rewrite.PYC_TAIL)


def _write(fn: Path) -> bool:
    from _pytest.assertion import rewrite

    try:
        source_hash, co = rewrite._rewrite_test(fn, _CONFIG)
        if not rewrite.try_makedirs(rewrite.get_cache_dir(fn)):
            return False
        return rewrite._write_pyc(_CONFIG.stash[rewrite.assertstate_key], co, source_hash, _pyc(fn))
    except Exception:  # noqa: BLE001 - a module that does not compile: the worker that imports it says why
        return False


def prewrite(config: pytest.Config, root: Path) -> int:
    """Write the rewritten code of every module under ``root`` whose cached rewrite is missing or out of date;
    the number written. Nothing is written where pytest does not rewrite asserts (``--assert=plain``), nor where
    pytest's private functions used here changed (another pytest: each worker rewrites them itself, as before)."""
    try:
        return _prewrite(config, root)
    except Exception as exc:  # noqa: BLE001 - an optimisation only: never what fails a run
        config.issue_config_time_warning(pytest.PytestWarning(f"test modules not pre-rewritten: {exc!r}"), 2)
        return 0


def _prewrite(config: pytest.Config, root: Path) -> int:
    global _CONFIG
    from _pytest.assertion import rewrite

    if config.getoption("assertmode") != "rewrite" or rewrite.assertstate_key not in config.stash:
        return 0
    todo = [fn for fn in _modules(root, config) if rewrite._read_pyc(fn, _pyc(fn)) is None]
    if not todo:
        return 0
    _CONFIG = config
    try:
        with get_context("fork").Pool(min(len(todo), os.cpu_count() or 1)) as pool:
            return sum(pool.map(_write, todo, chunksize=8))
    finally:
        _CONFIG = None
