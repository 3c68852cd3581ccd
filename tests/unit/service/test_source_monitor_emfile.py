"""A stream going silent while its worker is out of file descriptors: :meth:`SourceMonitor.start` could not create
liblsl's resolver (``RuntimeError: could not create continuous resolver``, EMFILE) and the worker crashed; a hot swap
under way then got 409 "its worker ended" instead of 503 EMFILE (test_swap_never_fits, under load: the swaps outlasted
the stall timeout while the worker's descriptors were short). Now the stream stays stalled and the monitor creates
the resolver at a later look, and finds the source then. A real RLIMIT_NOFILE on a child process (the limit is the
process's: not lowered in the test process, whose other threads may open files meanwhile); real LSL on loopback."""

from __future__ import annotations

import subprocess
import sys

from support.common import REPO, unique

CHILD = r"""
import os, resource, sys, time
import pylsl
from bci_stream.service.source_monitor import SourceMonitor

name = sys.argv[1]
outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", 1, 100.0, "float32", name))
info = outlet.get_info()  # the instance decoded: its uid
monitor = SourceMonitor(info, f"name='{name}'")
limit = resource.getrlimit(resource.RLIMIT_NOFILE)
used = {int(fd) for fd in os.listdir("/proc/self/fd")}
resource.setrlimit(resource.RLIMIT_NOFILE, (min(set(range(len(used) + 1)) - used), limit[1]))
try:
    monitor.start()  # no descriptor left: no resolver yet, no crash
    print("started", monitor.watch is None, flush=True)
    print("short", monitor.check(pylsl.local_clock() + 100.0), monitor.watch is None, flush=True)
finally:
    resource.setrlimit(resource.RLIMIT_NOFILE, limit)
now = pylsl.local_clock() + 200.0
monitor.check(now)  # descriptors again: the resolver is created at this look
print("watching", monitor.watch is not None, flush=True)
for k in range(1, 200):  # each look is past the backoff; the resolver answers within a few of its rounds
    found, uid = monitor.check(now + 10.0 * k)
    if found is not None:
        break
    time.sleep(0.05)
print("found", found is not None and found.uid() == info.uid(), uid, flush=True)
"""


def test_a_stall_while_out_of_file_descriptors_waits_for_descriptors_and_finds_the_source():
    name = unique("monitor-emfile")
    r = subprocess.run([sys.executable, "-c", CHILD, name], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines == ["started True", "short (None, None) True", "watching True", "found True None"], (r.stdout,
                                                                                                     r.stderr)
