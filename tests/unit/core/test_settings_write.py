"""``python -m bci_stream.core.settings --write FILE`` (what test_deploy tells a maintainer to run when
deploy/README.md's settings reference is stale) and ``--markdown``, run as the maintainer runs them (audit s53cov:
never run by the suite). A stale block is replaced by the reference and nothing else changes; a file without the
block's markers, or no file at all, is a line naming the file and why (exit 2), not a traceback, as ``--show`` of a
bad config is."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

from bci_stream.core.settings_reference import REFERENCE_BEGIN, REFERENCE_END, settings_markdown
from support.common import REPO


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bci_stream.core.settings", *args], capture_output=True, text=True,
                          timeout=60, cwd=REPO)


def test_write_replaces_a_stale_block_only_and_says_so(tmp_path: Path) -> None:
    text = f"# Deploy\n\nbefore\n{REFERENCE_BEGIN}\n| stale | table |\n{REFERENCE_END}\nafter\n"
    doc = tmp_path / "README.md"
    doc.write_text(text, encoding="utf-8")
    proc = run("--write", str(doc))
    assert proc.returncode == 0 and proc.stdout == f"{doc}: settings reference updated\n", proc.stderr
    assert doc.read_text(encoding="utf-8") == f"# Deploy\n\nbefore\n{settings_markdown()}after\n"
    proc = run("--write", str(doc))
    assert proc.returncode == 0 and proc.stdout == f"{doc}: settings reference already up to date\n", proc.stderr
    proc = run("--markdown")
    assert proc.returncode == 0 and proc.stdout == settings_markdown().rstrip("\n") + "\n", proc.stderr


def test_write_without_the_block_or_the_file_is_a_line_not_a_traceback(tmp_path: Path) -> None:
    doc = tmp_path / "README.md"
    doc.write_text(f"# Deploy\n{REFERENCE_END}\n{REFERENCE_BEGIN}\n", encoding="utf-8")  # in the wrong order
    proc = run("--write", str(doc))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"python -m bci_stream.core.settings: error: --write {doc}: no generated settings block: the markers "
        f"{REFERENCE_BEGIN!r} and {REFERENCE_END!r} must both be present, in that order")
    assert doc.read_text(encoding="utf-8") == f"# Deploy\n{REFERENCE_END}\n{REFERENCE_BEGIN}\n"  # untouched
    missing = tmp_path / "no-such.md"
    proc = run("--write", str(missing))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.splitlines()[-1] == (f"python -m bci_stream.core.settings: error: --write {missing}: cannot be "
                                            "read: No such file or directory")


def test_a_write_that_fails_is_a_line_and_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    """Review s53rev: a failing write (here: a file-size limit, EFBIG; a full disk is the same) was a traceback, and
    ``write_text`` had truncated the file first. Now the new text goes to a file beside it, put in place whole."""
    doc = tmp_path / "README.md"
    stale = f"# Deploy\n{REFERENCE_BEGIN}\nold\n{REFERENCE_END}\n"
    doc.write_text(stale, encoding="utf-8")

    def small_files() -> None:  # in the child: files of at most 64 bytes; EFBIG, not SIGXFSZ, past it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))

    proc = subprocess.run([sys.executable, "-m", "bci_stream.core.settings", "--write", str(doc)], capture_output=True,
                          text=True, timeout=60, cwd=REPO, preexec_fn=small_files)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.splitlines()[-1] == (f"python -m bci_stream.core.settings: error: --write {doc}: cannot be "
                                            "written: File too large (left as it was)")
    assert doc.read_text(encoding="utf-8") == stale and [p.name for p in tmp_path.iterdir()] == ["README.md"]
