"""``bci-stream replay --state/--type-state/--include-zero``: the BCI2000 reader options of ``[data.reader]``, passed
to the same loader the trainer uses. A state the file does not have is a usage error (exit 2) naming the flag and the
bad value; the flags on a file whose format takes none are refused naming the format that does; ``--help`` lists
them. Before: replay had no such option (click's "No such option", and no way to send a P300 model's cues)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support.bci2000 import speller
from support.common import SUBSET_S001_21CH, subset_file, unique


def replay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bci_stream", "replay", *args], capture_output=True, text=True,
                          timeout=120)


def test_a_state_the_file_does_not_have_is_refused_naming_the_flag_and_value(tmp_path: Path) -> None:
    path = speller(tmp_path / "speller.dat")
    for flag, bad in (("--type-state", "StimulusTyp"), ("--state", "NoSuchState")):
        proc = replay(str(path), "--name", unique("rb"), flag, bad)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert f"{flag} must be a state of speller.dat; got {bad!r}, states are ['StimulusCode', 'StimulusType']" \
            in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_bci2000_options_on_another_format_are_refused_naming_the_format() -> None:
    edf = subset_file(SUBSET_S001_21CH / "S001R05.edf")
    proc = replay(str(edf), "--name", unique("rb"), "--type-state", "StimulusType", "--no-include-zero")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert ("--type-state, --include-zero applies to no file given: no file's format takes it (--type-state: "
            "BCI2000 .dat files; --include-zero: BCI2000 .dat files; files: S001R05.edf)") in proc.stderr, proc.stderr


def test_help_documents_the_reader_options() -> None:
    proc = replay("--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for flag in ("--state STATE", "--type-state STATE", "--include-zero / --no-include-zero"):
        assert flag in text, text
    assert "[data.reader] type_state" in text


@pytest.mark.parametrize("flags, opts", [
    ((), {}),
    (("--type-state", "StimulusType"), {"type_state": "StimulusType"}),
    (("--state", "StimulusType", "--no-include-zero"), {"state": "StimulusType", "include_zero": False}),
])
def test_the_options_reach_the_loader(tmp_path: Path, flags: tuple[str, ...], opts: dict) -> None:
    """The replay's first line counts the events the loader gives for the same options (the markers are those
    events: tests/integration/test_replay_reader_options.py receives them)."""
    from bci_stream.io import load_recording

    path = speller(tmp_path / "speller.dat", n=400)
    want = len(load_recording(path, **opts).events)
    proc = replay(str(path), "--name", unique("rb"), "--speed", "100", "--linger", "0", *flags)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f", {want} events on" in proc.stdout, proc.stdout
