"""Processes the benchmarks start and watch: role processes, the service, and CPU/RSS readings from /proc.

Every process the benchmark starts is its child, started with a closed-on-exit stdin pipe: if the
benchmark dies, the roles see end of input and stop. :class:`Service` runs ``bci-stream serve`` as a
separate process with its own models folder, so the service under test shares nothing with the
orchestrator but the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class BenchError(RuntimeError):
    """A benchmark process failed to start, answered with an error, or did not answer in time."""


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment with the repository on PYTHONPATH, without BCI_STREAM_* settings (the bench
    configures its own service), with single-threaded BLAS/torch so processes do not fight for the cores."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BCI_STREAM_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------------------------------
# /proc readings (Linux)


def cpu_times(pid: int) -> tuple[float, float] | None:
    """``(user, system)`` CPU seconds of ``pid`` (all its threads), or None if it is gone or /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (all its threads), or None."""
    t = cpu_times(pid)
    return None if t is None else t[0] + t[1]


def rss_bytes(pid: int) -> int | None:
    """Resident set size of ``pid`` in bytes (``VmRSS``), or None."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def machine_busy_seconds() -> tuple[float, float] | None:
    """``(busy, total)`` CPU seconds of the whole machine since boot (from /proc/stat), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            vals = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    total = sum(vals[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


class CpuMeter:
    """CPU% of a set of processes (100 % = one core) and of the whole machine between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)
        self._t0 = 0.0
        self._c0: dict[str, tuple[float, float] | None] = {}
        self._m0: tuple[float, float] | None = None

    def start(self) -> CpuMeter:
        self._t0 = time.monotonic()
        self._c0 = {k: cpu_times(p) for k, p in self.pids.items()}
        self._m0 = machine_busy_seconds()
        return self

    def stop(self) -> dict[str, Any]:
        """``percent`` (user + system) and ``system_percent`` per process, ``machine_busy_percent``."""
        wall = time.monotonic() - self._t0
        out: dict[str, Any] = {"wall_s": wall, "percent": {}, "system_percent": {}}
        for k, p in self.pids.items():
            c1, c0 = cpu_times(p), self._c0.get(k)
            ok = c1 is not None and c0 is not None
            # user and system apart: each is whole clock ticks, so a process that ran no tick reads exactly 0
            out["percent"][k] = 100.0 * ((c1[0] - c0[0]) + (c1[1] - c0[1])) / wall if ok else None
            out["system_percent"][k] = 100.0 * (c1[1] - c0[1]) / wall if ok else None
        m1 = machine_busy_seconds()
        if m1 is not None and self._m0 is not None and m1[1] > self._m0[1]:
            out["machine_busy_percent"] = 100.0 * (m1[0] - self._m0[0]) / (m1[1] - self._m0[1])
        return out


# --------------------------------------------------------------------------------------------------
# Role processes


#: a line of liblsl's own log at level INFO (``... api_config.cpp:126   INFO| Loaded default config``)
LIBLSL_INFO = re.compile(r"^\S+ \S+ \(\s*[\d.]+s\) \[[^]]*\]\s+\S+:\d+\s+INFO\|")


def log_tail(text: str, n: int = 5) -> str:
    """The last ``n`` lines of a process's log, without liblsl's INFO lines: a role process that failed at start
    left only liblsl's banner in its last lines, and a level "not run" quoted that banner as its reason."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip() and not LIBLSL_INFO.match(ln)]
    if lines:
        return "log: " + " | ".join(lines[-n:])
    return "empty log (only liblsl's INFO lines)" if text.strip() else "empty log"


class RoleProcess:
    """A ``latency_bench.roles`` process (or any command speaking its JSON-lines protocol)."""

    def __init__(self, role: str, config: dict[str, Any] | None = None, *, python: str | None = None,
                 argv: Sequence[str] | None = None, env: dict[str, str] | None = None, log_path: Path | None = None,
                 protocol: bool = True) -> None:
        self.role = role
        cmd = list(argv) if argv is not None else [python or sys.executable, "-m", "latency_bench.roles", role,
                                                    json.dumps(config or {})]
        self.log_path = log_path
        self._log: IO[bytes] | int = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE if protocol else self._log,
                                     stderr=self._log, env=env or child_env(), cwd=str(REPO_ROOT))
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        if protocol:
            threading.Thread(target=self._read, name=f"{role}-stdout", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except json.JSONDecodeError:
                continue  # stray print from a library
        self.events.put({"event": "exit", "code": self.proc.wait()})

    def send(self, cmd: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise BenchError(f"{self.role} process {self.pid} has exited ({self._tail()})") from None

    def wait_event(self, kind: str, timeout: float = 30.0) -> dict[str, Any]:
        """The next event of ``kind``; an ``error`` or ``exit`` event or the timeout raise :class:`BenchError`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"{self.role} process {self.pid}: no {kind!r} event within {timeout:g} s "
                                 f"({self._tail()})")
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev.get("event") == kind:
                return ev
            if ev.get("event") in ("error", "exit"):
                raise BenchError(f"{self.role} process {self.pid}: {ev} ({self._tail()})")

    def request(self, cmd: dict[str, Any], reply: str, timeout: float = 30.0) -> dict[str, Any]:
        self.send(cmd)
        return self.wait_event(reply, timeout)

    def _tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "no log"
        return log_tail(self.log_path.read_text(errors="replace"))

    def close(self, timeout: float = 10.0, sig: int | None = None) -> int | None:
        """Close stdin (the role stops), optionally send ``sig``; wait, then kill. Returns the exit code."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:  # kill its children too (timeflux runs its graph in one): none lingers
            for pid in reversed(tree_pids(self.proc.pid)[1:]):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.kill()
            code = self.proc.wait(5.0)
        if not isinstance(self._log, int):
            self._log.close()
        return code


# --------------------------------------------------------------------------------------------------
# The service under test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """``python -m bci_stream serve`` on a free loopback port (another one if a process binds it first) with
    ``models_dir``; an HTTP client to it."""

    def __init__(self, models_dir: Path, log_path: Path, python: str | None = None,
                 settings: dict[str, str] | None = None) -> None:
        env = child_env({"BCI_STREAM_LOG_LEVEL": "warning", "BCI_STREAM_STATUS_INTERVAL": "0.25",
                         "BCI_STREAM_RECORDINGS_DIR": str(log_path.parent / "recordings"), **(settings or {})})
        self._argv = [python or sys.executable, "-m", "bci_stream", "serve", "--host", "127.0.0.1", "--models-dir",
                      str(models_dir)]
        self._env, self._log_path = env, log_path
        self._start()

    def _start(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = RoleProcess("service", argv=[*self._argv, "--port", str(self.port)], env=self._env,
                                log_path=self._log_path, protocol=False)
        self.client = httpx.Client(base_url=self.url, timeout=30.0)

    def _port_taken(self) -> bool:
        """The service exited because another process bound its port after :func:`free_port` picked it."""
        return (self.proc.proc.returncode == 2 and self.proc.log_path is not None
                and f"port {self.port} on 127.0.0.1 is in use" in self.proc.log_path.read_text(errors="replace"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline, retries = time.monotonic() + timeout, 2
        while time.monotonic() < deadline:
            if self.proc.proc.poll() is not None and self._port_taken() and retries > 0:
                retries -= 1
                self.client.close()
                self.proc.close(timeout=5.0)
                self._start()  # on another free port
                continue
            if self.proc.proc.poll() is not None:
                raise BenchError(f"the service exited with code {self.proc.proc.returncode} ({self.proc._tail()})")
            try:
                if self.client.get("/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise BenchError(f"the service did not answer /health within {timeout:g} s ({self.proc._tail()})")

    def start_decoder(self, stream_name: str, model: str, options: dict[str, Any] | None = None) -> str:
        r = self.client.post("/decoders", json={"stream": {"name": stream_name}, "model": model,
                                                "options": options or {}})
        if r.status_code != 201:
            raise BenchError(f"POST /decoders answered {r.status_code}: {r.text}")
        return str(r.json()["id"])

    def status(self, decoder_id: str) -> dict[str, Any]:
        r = self.client.get(f"/decoders/{decoder_id}")
        r.raise_for_status()
        return dict(r.json())

    def wait_running(self, decoder_id: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        st: dict[str, Any] = {}
        while time.monotonic() < deadline:
            st = self.status(decoder_id)
            if st["state"] == "running" and st.get("pid"):
                return st
            if st["state"] in ("error", "stopped"):
                raise BenchError(f"decoder {decoder_id} is {st['state']}: {st.get('last_error')}")
            time.sleep(0.1)
        raise BenchError(f"decoder {decoder_id} not running within {timeout:g} s (state {st.get('state')})")

    def stop_decoder(self, decoder_id: str) -> dict[str, Any]:
        r = self.client.delete(f"/decoders/{decoder_id}")
        r.raise_for_status()
        return dict(r.json())

    def close(self) -> None:
        self.client.close()
        self.proc.close(timeout=20.0, sig=signal.SIGINT)


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc; empty when /proc is missing)."""
    children: dict[int, list[int]] = {}
    try:
        entries = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return [pid]
    for p in entries:
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(p)
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out
