"""Two worker starts at once, with descriptors for one fork-server request only, never end the fork server.

``spawn._handshake_descriptors`` checks that a request's descriptors can be opened before multiprocessing connects to
the fork server (out of them after connecting, the half-made request ends the fork server and every worker forked from
it: audit s53cov F2). The check alone is not enough when two threads start workers at once (``POST /decoders`` runs
in the API's thread pool; a restart runs on the monitor thread): both checks pass, then both requests open their
descriptors together, and one runs out after connecting (review s53rev F1: the fork server ended with EOFError, a
running worker with exit code 255, in 2 of 3 tries). Checks and requests are now made one at a time.

Real multiprocessing fork server and processes, in a child Python whose open-files limit is lowered so that exactly
:data:`FREE` descriptors are left (the pytest process keeps its own).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bci_stream.service.spawn import worker_context
from support.common import REPO

FREE = 6  # one request's descriptors (a socket and two pipes, then a duplicate), not two
ROUNDS = 8

SCRIPT = f"""
import os, resource, threading, time
from bci_stream.service.spawn import worker_context

ctx = worker_context()
ctx.set_forkserver_preload([])
keeper = ctx.Process(target=time.sleep, args=(300,), daemon=True)
keeper.start()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
name = "x" * 30_000_000  # pickled with the request: a wide window between the check and the request
children = []  # kept running until the end: the descriptors held by the round before stay held
for round_ in range({ROUNDS}):
    outcomes, barrier = [], threading.Barrier(2)

    def start():
        process = ctx.Process(target=time.sleep, args=(300,), name=name, daemon=True)
        barrier.wait()
        try:
            process.start()
            children.append(process)
            outcomes.append("started")
        except OSError as exc:
            outcomes.append(f"errno {{exc.errno}}")

    threads = [threading.Thread(target=start) for _ in range(2)]
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) - 1 + {FREE}, hard))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    time.sleep(0.5)  # a fork server that ended takes the keeper with it
    print(round_, sorted(outcomes), keeper.is_alive(), keeper.exitcode, flush=True)
    if not keeper.is_alive():
        break
for process in [keeper, *children]:
    process.kill()
    process.join(30)
"""


def test_two_starts_at_once_out_of_descriptors_leave_the_fork_server_and_its_workers_up(tmp_path: Path) -> None:
    if worker_context().get_start_method() != "forkserver":
        pytest.skip("no fork server on this platform")
    out = tmp_path / "out.txt"
    with out.open("w") as sink:  # a file, not a pipe: workers orphaned by an ended fork server would hold a pipe open
        proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=sink, stderr=subprocess.STDOUT, cwd=REPO,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=240)
        finally:  # the child's fork server and workers (orphans too: the same process group) end with it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    text = out.read_text()
    rounds = [line.split(" ", 1)[1] for line in text.splitlines() if line[:1].isdigit()]
    assert code == 0 and len(rounds) == ROUNDS, text[-3000:]
    # one start each round, the other refused before its request (EMFILE); the keeper never ends
    assert set(rounds) == {"['errno 24', 'started'] True None"}, text[-3000:]
