"""A benchmark stopped with Ctrl-C or SIGTERM stops: sent to its whole process group (a terminal's Ctrl-C, `timeout`)
the paths under test die with it, and the errors their clean-up then raised no longer replace the stop (before: each
path was reported "failed: player process has exited", the run went on with the next sections, wrote a report and
exited 1); under `bci-stream bench` a SIGTERM to the run alone ends it as under `python -m latency_bench` (before: it
died at once, leaving its work folder and the service with its workers running). And the processes a run starts get
SIGINT at its default although the run was started with SIGINT ignored (a script's background job), so a peer stopped
with SIGINT stops (audit s60bench F1-F4). Real runs of the benchmark, real processes; nothing is timed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHRUNK = ["e2e", "--seconds", "30", "--rounds", "1", "--backlog-s", "2"]


def session_pids(sid: int) -> list[int]:
    """The processes still in session ``sid`` (the run's and those it started)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def parent(pid: int) -> int | None:
    """``pid``'s parent, or None once it is gone."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def sigint_ignored(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    raise AssertionError(f"no SigIgn line for {pid}")


class Run:
    """The benchmark in a session of its own, its stderr collected line by line."""

    def __init__(self, argv: list[str], tmp: Path, ignore_sigint: bool = False) -> None:
        env = {**os.environ, "TMPDIR": str(tmp), "BCI_STREAM_BENCH_NO_SETUP": "1"}
        self.lines: list[str] = []
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True,
                                     preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
                                     if ignore_sigint else None)
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stderr), daemon=True)
        self.reader.start()

    def wait_for_line(self, part: str, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(part in line for line in self.lines):
            assert self.proc.poll() is None and time.monotonic() < deadline, ("".join(self.lines))[-3000:]
            time.sleep(0.1)

    def end(self) -> int:
        try:
            code = self.proc.wait(120)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.reader.join(10)
        deadline = time.monotonic() + 30  # the run's children, killed or stopping, are gone
        while session_pids(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        return code

    def cleanup(self) -> None:
        if self.proc.poll() is None or session_pids(self.proc.pid):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_ctrl_c_to_the_group_stops_the_run_with_130_and_reports_no_failed_path(tmp_path: Path) -> None:
    """Started as a script's background job (SIGINT ignored), the run's processes still take SIGINT at its default;
    a Ctrl-C to the whole group during the service's phase then stops everything: exit 130, no report, no path
    called failed, no process and no work folder left."""
    run = Run([sys.executable, "-m", "latency_bench", *SHRUNK, "--paths", "service,relay",
               "--out", str(tmp_path / "out")], tmp_path, ignore_sigint=True)
    try:
        run.wait_for_line(": service (round 1/1")
        # the processes the run started itself (theirs may ignore SIGINT on purpose: multiprocessing's fork server
        # and resource tracker under the service)
        children = [p for p in session_pids(run.proc.pid) if parent(p) == run.proc.pid]
        assert children, "the run started no process"
        assert not sigint_ignored(run.proc.pid)  # the run's own handler
        ignoring = [p for p in children if Path(f"/proc/{p}").exists() and sigint_ignored(p)]
        assert ignoring == [], [Path(f"/proc/{p}/cmdline").read_text() for p in ignoring]
        run.wait_for_line("starting the service")
        time.sleep(2.0)  # into the phase
        os.killpg(run.proc.pid, signal.SIGINT)
        assert run.end() == 130, "".join(run.lines)[-3000:]
    finally:
        run.cleanup()
    said = "".join(run.lines)
    assert "stopped by Ctrl-C" in said and " failed" not in said, said[-3000:]
    assert not (tmp_path / "out" / "bench.json").exists()
    assert session_pids(run.proc.pid) == []
    assert list(tmp_path.glob("bci-bench-*")) == []


@pytest.mark.parametrize("to", ["run", "group"])
def test_sigterm_stops_bci_stream_bench_with_143_leaving_nothing(tmp_path: Path, to: str) -> None:
    """SIGTERM to `bci-stream bench` alone, or to its group (`timeout`): exit 143, its processes and work folder
    gone, no report."""
    run = Run([sys.executable, "-m", "bci_stream", "bench", *SHRUNK, "--paths", "relay",
               "--out", str(tmp_path / "out")], tmp_path)
    try:
        run.wait_for_line(": relay (round 1/1")
        time.sleep(1.0)
        if to == "run":
            os.kill(run.proc.pid, signal.SIGTERM)
        else:
            os.killpg(run.proc.pid, signal.SIGTERM)
        assert run.end() == 128 + signal.SIGTERM, "".join(run.lines)[-3000:]
    finally:
        run.cleanup()
    said = "".join(run.lines)
    assert " failed" not in said, said[-3000:]
    assert not (tmp_path / "out" / "bench.json").exists()
    assert session_pids(run.proc.pid) == []
    assert list(tmp_path.glob("bci-bench-*")) == []
