"""``bci-stream serve``'s workers are spawned, and spawn runs the console script again in each (``from bci_stream.cli
import main``) before the worker compares its code stamp: importing the CLI must not import the trainer (left out of
the stamp, so an edit there must not break a worker) nor any runtime module (it would run before the check); only
``bci_stream.cli_checks``, the options' value checks (click callbacks, nothing else)."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from bci_stream.cli import main


def test_importing_the_cli_imports_no_other_bci_stream_module():
    code = "import sys, bci_stream.cli; print(sorted(m for m in sys.modules if m.startswith('bci_stream')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['bci_stream', 'bci_stream.cli', 'bci_stream.cli_checks']"  # its click callbacks only


def test_the_trainer_commands_are_listed_and_run_when_named():
    runner = CliRunner()
    listed = runner.invoke(main, ["--help"]).output
    assert all(f"  {name} " in listed for name in ("train", "evaluate", "calibrate", "serve"))
    assert "Usage: main calibrate [OPTIONS] FILES..." in runner.invoke(main, ["calibrate", "--help"]).output
    assert runner.invoke(main, ["nosuch"]).exit_code == 2
