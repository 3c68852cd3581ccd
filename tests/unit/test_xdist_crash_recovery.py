"""A run survives a worker's native crash (tests/support/xdist_crash.py): with pytest-xdist 3.8.0's own
``--dist loadfile`` scheduler the run below hangs after the first crash (idle workers, no report); with the
project's scheduler and crash hook it ends, runs a test that crashed once again (a ``rerun``, not a failure), fails
a test that crashed twice without running it a third time, and runs every other test. Real pytest, real xdist
workers, real SIGSEGV, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

FILES = {
    "conftest.py": f'''
import importlib.util, sys
sys.path.insert(0, {str(TESTS)!r})
spec = importlib.util.spec_from_file_location("project_conftest", {str(TESTS / "conftest.py")!r})
project = importlib.util.module_from_spec(spec)
spec.loader.exec_module(project)
pytest_xdist_make_scheduler = project.pytest_xdist_make_scheduler
pytest_handlecrashitem = project.pytest_handlecrashitem
pytest_report_teststatus = project.pytest_report_teststatus
pytest_terminal_summary = project.pytest_terminal_summary
''',
    "test_a_once.py": '''
import os, signal
from pathlib import Path
def test_a1(): pass
def test_crashes_once():
    mark = Path(__file__).with_suffix(".crashed")
    if not mark.exists():
        mark.write_text("1")
        os.kill(os.getpid(), signal.SIGSEGV)
def test_a_after(): pass
''',
    "test_b.py": "def test_b1(): pass\ndef test_b2(): pass\n",
    "test_c.py": "def test_c1(): pass\n",
    "test_d_always.py": '''
import os, signal
def test_d1(): pass
def test_crashes_always(): os.kill(os.getpid(), signal.SIGSEGV)
def test_d_after(): pass
''',
}


def test_a_crashed_worker_neither_hangs_the_run_nor_fails_a_test_that_passes_when_run_again(tmp_path: Path) -> None:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    # Only xdist among the installed plugins (the others, hypothesis and schemathesis above all, take seconds to load
    # in the run's process and again in each worker it starts: one, then one after each of the 3 crashes; they play
    # no part in a crash): plugin autoload off, `-p xdist`.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "xdist", "-n", "1", "--dist", "loadfile", "-p",
                          "no:cacheprovider", "-o", "addopts=", str(tmp_path)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env)
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    assert "1 failed, 8 passed, 2 rerun" in out, out
    assert "FAILED test_d_always.py::test_crashes_always - worker 'gw2' crashed" in out, out
    assert "RERUN test_a_once.py::test_crashes_once: worker 'gw0' crashed" in out, out
