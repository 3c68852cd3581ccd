"""Benchmarks for bci-stream: they measure and report, side by side in one run; they never assert speed.

``python -m latency_bench {e2e,inference,scale,soak,grid,all}`` (also ``bci-stream bench``); see
``latency_bench/README.md``. :func:`latency_bench.suite.run_bench` is the entry point from Python.
"""

#: The rate of the e2e and scale benchmarks' 64ch/H128/L2 GRU streams (and so of their catch-up backlogs).
GRU_SFREQ = 1000.0
