"""The open-files note says for certain only what an errno says (EMFILE, ENFILE); a process merely near its limit
gets it as the guess it is. Before, any error of a busy process near its limit, a stream that simply was not there
too, was said to be for want of descriptors (review s49 F7). Each case runs in a process of its own, its soft limit
lowered there (never in the test's process, whose other threads open files)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from support.common import REPO

PROBE = textwrap.dedent("""
    import errno, json, os, resource
    from bci_stream.core.open_files_shortage import open_files_shortage
    held = len(os.listdir("/proc/self/fd"))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    emfile = OSError(errno.EMFILE, "Too many open files")
    out = {"far": open_files_shortage(), "far_emfile": open_files_shortage(emfile)}
    resource.setrlimit(resource.RLIMIT_NOFILE, (held + 20, hard))
    out["near"] = open_files_shortage()
    out["near_emfile"] = open_files_shortage(emfile)
    print(json.dumps(out))
""")


def probe() -> dict[str, str | None]:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_near_the_limit_without_an_errno_is_said_as_a_guess_and_an_errno_for_certain():
    out = probe()
    assert out["far"] is None  # far from the limit, no errno: nothing said
    for key in ("far_emfile", "near_emfile"):  # the errno says so: for certain
        assert "its limit (RLIMIT_NOFILE) is" in out[key] and "may be" not in out[key], out[key]
        assert ": raise it (systemd LimitNOFILE=, ulimit -n)" in out[key], out[key]
    near = out["near"]
    assert near is not None and "so this may be for want of file descriptors: if so, raise it" in near, near
