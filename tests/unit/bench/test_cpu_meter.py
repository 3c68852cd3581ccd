"""``latency_bench.procs.CpuMeter`` reads a process that ran no clock tick as exactly 0 %, never a float residue.

The scale benchmark's bare relay can run under one 10 ms tick in a short window; its CPU % summed from
``user + system - user0 - system0`` came out as -1.4e-15 % and a row check failed in CI (stop 39).
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from latency_bench.procs import CpuMeter


def test_a_sleeping_process_reads_exactly_zero_and_a_busy_one_more() -> None:
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)  # both past their interpreter start-up
        meter = CpuMeter({"idle": idle.pid, "busy": busy.pid}).start()
        time.sleep(0.5)
        out = meter.stop()
    finally:
        for p in (idle, busy):
            p.kill()
            p.wait()
    assert out["percent"]["idle"] == 0.0 and out["system_percent"]["idle"] == 0.0
    assert out["percent"]["busy"] > 0.0
    assert out["wall_s"] >= 0.5


def test_unchanged_tick_counts_read_exactly_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    """10 user + 20 system ticks before and after: ``0.1 + 0.2 - 0.1 - 0.2`` is 2.8e-17, not 0."""
    import latency_bench.procs as procs

    monkeypatch.setattr(procs, "cpu_times", lambda pid: (10 / procs.CLK_TCK, 20 / procs.CLK_TCK))
    meter = CpuMeter({"relay0": 1}).start()
    out = meter.stop()
    assert out["percent"]["relay0"] == 0.0 and out["system_percent"]["relay0"] == 0.0
