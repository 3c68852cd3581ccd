"""What the numbers were measured on: machine, load, package versions, source revision."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from latency_bench.procs import REPO_ROOT

PACKAGES = ("numpy", "scipy", "onnxruntime", "torch", "pylsl", "mne", "mne-lsl", "fastapi", "uvicorn", "matplotlib")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git() -> dict[str, Any]:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    clean = None if dirty.returncode != 0 else not dirty.stdout.strip()
    return {"commit": rev.stdout.strip() or None, "dirty": None if clean is None else not clean}


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    try:
        import pylsl

        out["liblsl"] = str(pylsl.library_version())
    except Exception:  # noqa: BLE001 - informational
        out["liblsl"] = None
    return out


def loadavg() -> list[float] | None:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine_info() -> dict[str, Any]:
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": _mem_gib(),
        "loadavg_start": loadavg(),
        "source": _git(),
    }


def source_text(machine: dict[str, Any]) -> str:
    """The source commit a run measured (12 hex digits, ``unknown`` outside a git checkout), `` (dirty)`` when changed."""
    src = machine.get("source") or {}
    return f"{(src.get('commit') or 'unknown')[:12]}{' (dirty)' if src.get('dirty') else ''}"


def machine_line(machine: dict[str, Any], versions: dict[str, str | None]) -> str:
    """The machine, the versions and the source commit a report ran on, in one line (the reports whose header is
    not :func:`~latency_bench.report_sections.header`'s: ``cpu-profile``, ``scale``; audit s68bench F4)."""
    libs = " · ".join(f"{k} {versions.get(k) or 'not installed'}" for k in ("numpy", "onnxruntime", "pylsl"))
    return (f"{machine.get('cpu_model')} · {machine.get('cpus_usable') or machine.get('cpu_count')} CPUs · "
            f"{machine.get('memory_gib')} GiB · {machine.get('platform')} · python {versions.get('python')} · {libs} "
            f"(liblsl {versions.get('liblsl')}) · source {source_text(machine)}")
