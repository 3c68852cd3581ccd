"""Where the CPU of one live stream goes: ``python -m latency_bench cpu-profile``.

One 1 kHz × 64-ch stream (the player pushes each sample on its own) decoded by the service with the
64ch/H128/L2 GRU, read by the consumer, as in the end-to-end benchmark. Over ``seconds`` it reads, from
``/proc``, the CPU time of every thread of every process on the path (worker main thread, the worker's
liblsl threads, the API process, player, consumer), and context switches per second. With ``perf``
installed and permitted it also samples the worker's main thread and splits its CPU time by shared
object (Python interpreter, numpy, onnxruntime, liblsl, kernel). Then, in this process, on the same live
stream: the CPU per wake-up of pylsl's ``pull_chunk`` against the worker's ``ChunkPuller``, and what a bare
``time.sleep(1 / sfreq)`` loop costs per wake-up: the floor of any process that wakes once per sample on
this machine.

This is what bounds the scaling section: CPU per stream × streams must fit in the machine's cores.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from latency_bench.e2e import CONNECT_TIMEOUT_S, Harness, start_path
from latency_bench.machine import machine_info, machine_line, versions
from latency_bench.models import export_bench_gru
from latency_bench.procs import CLK_TCK

SFREQ = 1000.0


def thread_cpu(pid: int) -> dict[int, tuple[float, int]]:
    """``{tid: (cpu seconds, voluntary + involuntary context switches)}`` of every thread of ``pid``."""
    out: dict[int, tuple[float, int]] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                status = f.read()
        except OSError:
            continue
        switches = sum(int(v) for v in re.findall(r"ctxt_switches:\s+(\d+)", status))
        out[int(tid)] = ((int(fields[11]) + int(fields[12])) / CLK_TCK, switches)
    return out


def per_thread_usage(pids: dict[str, int], seconds: float) -> dict[str, Any]:
    """CPU % (100 = one core) and context switches/s of each process's main thread and of its other
    threads together, over ``seconds``."""
    before = {role: thread_cpu(pid) for role, pid in pids.items()}
    time.sleep(seconds)
    after = {role: thread_cpu(pid) for role, pid in pids.items()}
    rows: dict[str, Any] = {}
    for role, pid in pids.items():
        main = {"cpu_percent": 0.0, "switches_per_s": 0.0}
        rest = {"cpu_percent": 0.0, "switches_per_s": 0.0, "threads": 0}
        for tid, (cpu, sw) in after[role].items():
            cpu0, sw0 = before[role].get(tid, (0.0, 0))
            row = main if tid == pid else rest
            row["cpu_percent"] += (cpu - cpu0) / seconds * 100
            row["switches_per_s"] += (sw - sw0) / seconds
            if tid != pid:
                rest["threads"] += 1
        rows[role] = {"main_thread": main, "other_threads": rest,
                      "total_cpu_percent": main["cpu_percent"] + rest["cpu_percent"]}
    return rows


def perf_by_dso(tid: int, seconds: float) -> dict[str, Any]:
    """``perf record`` of one thread, then the share of its samples per shared object (``{}`` with the
    reason when perf is missing or not permitted)."""
    perf = shutil.which("perf")
    if perf is None:
        return {"error": "perf is not installed"}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "perf.data"
        rec = subprocess.run([perf, "record", "-F", "2000", "-t", str(tid), "-o", str(data), "--", "sleep",
                              str(seconds)], capture_output=True, text=True, timeout=seconds + 60)
        if rec.returncode != 0 or not data.exists():
            return {"error": f"perf record failed: {rec.stderr.strip()[-300:]}"}
        rep = subprocess.run([perf, "report", "-i", str(data), "--no-children", "--sort", "dso", "--stdio"],
                             capture_output=True, text=True, timeout=120)
    shares: dict[str, float] = {}
    for line in rep.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)", line)
        if m:
            name = re.sub(r"\.cpython-\d+.*|\.so[.\d]*$", "", m.group(2))
            shares[name] = shares.get(name, 0.0) + float(m.group(1))
    return {"percent_of_samples": dict(sorted(shares.items(), key=lambda kv: -kv[1]))}


def wakeup_floor(rate: float, seconds: float = 3.0) -> float:
    """CPU µs per iteration of ``time.sleep(1 / rate)`` in this process."""
    n = int(rate * seconds)
    c0 = time.thread_time()
    for _ in range(n):
        time.sleep(1.0 / rate)
    return (time.thread_time() - c0) / n * 1e6


def pull_cost(in_name: str, seconds: float = 3.0, rounds: int = 2) -> dict[str, float]:
    """CPU µs per wake-up of two ways to take every available sample of a live stream, alternated on one
    inlet: pylsl's ``pull_chunk(min_samples=1, max_samples=30 s, dest_obj=buf)`` and the worker's
    :class:`~bci_stream.lsl.liblsl.ChunkPuller` (median over ``rounds``)."""
    import numpy as np
    import pylsl

    from bci_stream.lsl.liblsl import PULL_MAX_SAMPLES, ChunkPuller

    found = pylsl.resolve_bypred(f"name='{in_name}'", 1, 10.0)
    if not found:
        raise RuntimeError(f"stream {in_name} not found")
    inlet = pylsl.StreamInlet(found[0], max_buflen=30, processing_flags=0)
    inlet.open_stream(timeout=10.0)
    max_chunk = int(found[0].nominal_srate() * 30) + 1
    buf = np.empty((max_chunk, found[0].channel_count()), dtype=inlet.np_dtype)
    puller = ChunkPuller(inlet, PULL_MAX_SAMPLES)
    ways = {"pylsl_pull_chunk": lambda: inlet.pull_chunk(timeout=0.05, max_samples=max_chunk, dest_obj=buf,
                                                         min_samples=1, as_numpy=True),
            "chunk_puller": lambda: puller.pull(0.05)}
    got: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(rounds):
        for key, pull in ways.items():
            c0, k, t_end = time.thread_time(), 0, time.monotonic() + seconds
            while time.monotonic() < t_end:
                pull()
                k += 1
            got[key].append((time.thread_time() - c0) / k * 1e6)
    inlet.close_stream()
    return {k: float(np.median(v)) for k, v in got.items()}


def run_cpu_profile(seconds: float = 10.0, use_perf: bool = True, echo: Any = print) -> dict[str, Any]:
    """Decode one 1 kHz × 64-ch stream and report where its CPU goes (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="bci-cpu-profile-") as tmp:
        h = Harness(Path(tmp), echo=echo)
        try:
            model = export_bench_gru(h.models_dir, 64, 128, 2, SFREQ)
            name = h.unique("bench-cpu")
            h.add_stream(name, model, None, capacity_s=seconds * 3 + 60)
            path = start_path(h, "service", name, model)
            h.consumer.request({"cmd": "add", "name": path.out_name, "capacity_s": seconds * 3 + 60,
                                "timeout": CONNECT_TIMEOUT_S}, "added", CONNECT_TIMEOUT_S + 5)
            time.sleep(2.0)
            pids = {"worker": path.pids["worker"], "api": path.pids["api"], "player": h.player.pid,
                    "consumer": h.consumer.pid}
            echo(f"measuring per-thread CPU for {seconds:g} s")
            usage = per_thread_usage(pids, seconds)
            perf: dict[str, Any] = {"error": "not requested"}
            if use_perf:
                echo(f"perf on the worker's main thread for {seconds:g} s")
                perf = perf_by_dso(pids["worker"], seconds)
            status = path.status() or {}
            path.stop()
            echo("pull cost per wake-up: pylsl pull_chunk vs ChunkPuller, on the same live stream")
            pulls = pull_cost(name, seconds=min(3.0, seconds))
        finally:
            h.close()
    floor = wakeup_floor(SFREQ)
    worker_main = usage["worker"]["main_thread"]["cpu_percent"]
    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(),
        "versions": versions(),
        "stream": {"sfreq": SFREQ, "n_chans": 64, "model": model.ref, "samples_per_push": 1},
        "seconds": seconds, "usage": usage, "worker_main_perf": perf, "sleep_wakeup_cpu_us": floor,
        "pull_cpu_us_per_wakeup": pulls,
        "worker_main_cpu_us_per_sample": worker_main / 100 * 1e6 / SFREQ,
        "path_cpu_percent": sum(r["total_cpu_percent"] for r in usage.values()),
        "counters": status.get("counters"), "load_average": os.getloadavg(),
    }


def format_markdown(res: dict[str, Any]) -> str:
    lines = [f"# Where the CPU of one stream goes ({res['stream']['sfreq']:g} Hz × {res['stream']['n_chans']} ch, "
             f"{res['stream']['model']}, one sample per push, {res['seconds']:g} s)", "",
             f"{res.get('created')} · {machine_line(res.get('machine') or {}, res.get('versions') or {})} · load "
             f"average {res['load_average']}", "",
             "| process | main thread CPU % | its switches/s | other threads CPU % | their switches/s | threads |",
             "|---|---:|---:|---:|---:|---:|"]
    for role, r in res["usage"].items():
        m, o = r["main_thread"], r["other_threads"]
        lines.append(f"| {role} | {m['cpu_percent']:.1f} | {m['switches_per_s']:.0f} | {o['cpu_percent']:.1f} | "
                     f"{o['switches_per_s']:.0f} | {o['threads']} |")
    lines += ["", f"Whole path: {res['path_cpu_percent']:.1f} % of a core (100 = one core). Worker main thread: "
              f"{res['worker_main_cpu_us_per_sample']:.0f} µs CPU per sample. A bare `time.sleep(1 / sfreq)` loop "
              f"costs {res['sleep_wakeup_cpu_us']:.1f} µs CPU per wake-up here.", "",
              "Taking every available sample of the live stream, CPU µs per wake-up (median of 2 alternations): "
              + ", ".join(f"{k} {v:.1f}" for k, v in res["pull_cpu_us_per_wakeup"].items()), ""]
    perf = res["worker_main_perf"]
    if "percent_of_samples" in perf:
        lines += ["Worker main thread by shared object (`perf record -t`):", "", "| object | % of samples |",
                  "|---|---:|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in perf["percent_of_samples"].items() if v >= 0.5]
    else:
        lines.append(f"perf: {perf.get('error')}")
    return "\n".join(lines) + "\n"
