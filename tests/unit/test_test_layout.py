"""The test tree can be collected in one run (``make test``, CI).

The test folders have no ``__init__.py`` (pytest's default ``prepend`` import mode): each test module is imported
under its file name, so two test files of one name in different folders stop the whole run at collection ("import
file mismatch"), as ``tests/unit/service/test_liveness.py`` beside ``tests/integration/test_liveness.py`` did.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_has_a_name_of_its_own() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        if not (path.parent / "__init__.py").exists():  # a package's modules are imported by their dotted name
            by_name[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: sorted(paths) for name, paths in by_name.items() if len(paths) > 1}
    assert not clashes, f"test module names must be unique outside packages (rename one of each): {clashes}"
