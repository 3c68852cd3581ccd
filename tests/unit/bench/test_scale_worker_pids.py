"""``all``'s scaling table meters each worker process once: streams on shared workers (the service's default) share
processes, and a process metered once per stream had its CPU counted that many times (678 % on 2 cores)."""

from __future__ import annotations

from types import SimpleNamespace

from latency_bench.report_sections import _scale_md
from latency_bench.scale import worker_pids


def test_streams_sharing_a_worker_process_meter_it_once():
    paths = [SimpleNamespace(pids={"worker": pid}) for pid in (3065, 3096, 3065, 3096)]
    assert worker_pids(paths) == {"worker3065": 3065, "worker3096": 3096}


def test_the_caption_names_the_worker_processes_per_level():
    def level(n: int, procs: int | None) -> dict:
        row = {"n_streams": n, "lost": 0, "latency_ms": {"p50": 1.0, "p99": 2.0, "p99_9": 3.0},
               "worst_stream_p99_ms": 2.0, "machine_busy_percent": 50,
               "cpu_percent": {"workers_total": 40.0 * procs if procs else 40.0, "per_worker_mean": 40.0,
                               "api": 1.0, "player": 10.0, "consumer": 5.0}}
        if procs is not None:
            row["worker_processes"] = procs
        return row

    text = "\n".join(_scale_md({"model": "m", "seconds_per_level": 2, "levels": [level(1, 1), level(4, 2)]}))
    assert "worker processes at 1, 4 streams: 1, 2" in text and "one worker process per stream" not in text
    old = "\n".join(_scale_md({"model": "m", "seconds_per_level": 2, "levels": [level(1, None)]}))
    assert "worker processes not recorded by this run" in old
