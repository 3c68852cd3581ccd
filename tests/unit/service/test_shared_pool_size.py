"""The default number of shared workers is the number of CPUs the service may run on (its affinity), not the host's."""

from __future__ import annotations

import os
import subprocess
import sys

from support.common import REPO

CHILD = """
import multiprocessing, os
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # as systemd's CPUAffinity=, compose's cpuset, taskset
from bci_stream.service.shared_pool import SharedPool
pool = SharedPool(multiprocessing.get_context("spawn"), None, "models", 0.25, None, None)
print(len(pool.workers), os.cpu_count())
"""


def test_the_default_pool_has_one_worker_per_cpu_the_service_may_use() -> None:
    """Before: ``os.cpu_count()`` workers, all squeezed onto the CPUs the service was confined to."""
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr
    workers, host = map(int, proc.stdout.split())
    assert workers == 1 and host >= 1
