"""The shape of the code: what the runtime may import, where liblsl internals live, module sizes.

The service installs without extras (``pip install .``): its packages never import a training library
(``tests/integration/test_runtime_only_install.py`` proves it by decoding in such a venv). Layers import
downwards only: api -> service -> engine -> core (lsl and dsp beside them). Modules of ``bci_stream`` and of the
benchmark ``latency_bench`` (shipped in the same distribution) are at most 400 lines.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "bci_stream"
RUNTIME = ("core", "lsl", "dsp", "engine", "service", "api")
EXTRAS = ("onnx", "torch", "mne", "sklearn", "matplotlib", "pyxdf", "pyriemann", "scipy.io")
#: bci_stream packages each runtime package may import (itself included).
ALLOWED = {
    "core": {"core"},
    "dsp": {"core", "dsp"},
    "lsl": {"core", "lsl"},
    "engine": {"core", "dsp", "engine"},
    # io: the XDF chunk writer of the recorder; cli_checks: the option checks of `record` (click only, a leaf)
    "service": {"core", "dsp", "lsl", "engine", "service", "io", "cli_checks"},
    "api": {"core", "engine", "service", "api"},
}
LSL_PRIVATE = re.compile(r"do_pull_chunk|do_push_chunk|\.obj\b|pylsl\.lib\b|from pylsl\.lib|pylsl\.util\.handle_error")
LSL_ONE_PLACE = PKG / "lsl" / "liblsl.py"
MAX_LINES = 400
#: Packages whose modules are capped at MAX_LINES lines.
CAPPED = (PKG, PKG.parent / "latency_bench")


def modules(packages: tuple[str, ...] | None = None) -> list[Path]:
    roots = [PKG / p for p in packages] if packages else [PKG]
    return sorted(p for r in roots for p in r.rglob("*.py"))


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_runtime_packages_exist():
    assert all((PKG / p / "__init__.py").is_file() for p in RUNTIME)


@pytest.mark.parametrize("package", RUNTIME)
def test_runtime_never_imports_a_training_library(package):
    tops = {e.split(".")[0] for e in EXTRAS}
    bad = {str(p.relative_to(PKG)): sorted(n for n in imported(p) if n.split(".")[0] in tops
                                              and any(n == e or n.startswith(e + ".") for e in EXTRAS))
           for p in modules((package,))}
    assert {k: v for k, v in bad.items() if v} == {}


@pytest.mark.parametrize("package", RUNTIME)
def test_layers_import_downwards_only(package):
    bad = {}
    for p in modules((package,)):
        used = {n.split(".")[1] for n in imported(p) if n.startswith("bci_stream.") and n.count(".") >= 1}
        if not used <= ALLOWED[package]:
            bad[str(p.relative_to(PKG))] = sorted(used - ALLOWED[package])
    assert bad == {}


def test_liblsl_internals_are_used_in_one_module_only():
    users = [str(p.relative_to(PKG)) for p in modules() if p != LSL_ONE_PLACE and LSL_PRIVATE.search(p.read_text())]
    assert users == []
    assert LSL_PRIVATE.search(LSL_ONE_PLACE.read_text())


@pytest.mark.parametrize("root", CAPPED, ids=lambda p: p.name)
def test_no_module_is_over_400_lines(root: Path):
    assert (root / "__init__.py").is_file()
    long = {str(p.relative_to(root.parent)): n for p in sorted(root.rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_ray_is_imported_only_inside_the_ray_backend_functions():
    """The runtime install has no Ray (the ``cluster`` extra): the Ray backend's modules import it, and only inside
    functions."""
    def is_ray(node: ast.AST) -> bool:
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
        return any(n == "ray" or n.startswith("ray.") for n in names)

    users, top_level = set(), set()
    for p in modules():
        tree = ast.parse(p.read_text(encoding="utf-8"))
        name = str(p.relative_to(PKG))
        if any(is_ray(n) for n in ast.walk(tree)):
            users.add(name)
        if any(is_ray(n) for n in tree.body):
            top_level.add(name)
    assert users == {"service/backends/ray_backend.py", "service/backends/ray_nodes.py"} and top_level == set()
