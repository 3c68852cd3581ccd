"""The paths measured side by side with bci-stream: the bare pylsl relay (transport floor), a timeflux graph,
and an mne-lsl polling loop running the same model in torch.

Where each peer comes from:

* **mne-lsl** (extra ``bench``: ``pip install -e ".[bench]"``) runs in this interpreter: it is compatible
  with the runtime's numpy/scipy/mne. It ships its own liblsl (1.17 for mne-lsl 1.14); that is what its
  users get.
* **timeflux** 0.17.2 pins ``numpy==1.26.4`` and imports ``pylsl.resolve_stream``, which pylsl 1.17+
  removed, so it cannot share the runtime's environment. It runs from its own virtualenv,
  ``.venv-timeflux`` at the repository root (``python -m latency_bench setup-timeflux`` creates it:
  timeflux 0.17.2, pylsl 1.16.2), with ``PYLSL_LIB`` pointing at the liblsl this environment's pylsl
  ships, so it uses the same transport library as bci-stream and the relay. Another interpreter can be
  given with ``--timeflux-python`` or ``BCI_STREAM_BENCH_TIMEFLUX_PYTHON``. When none exists, the benchmark
  creates ``.venv-timeflux`` itself the first time a section needs timeflux (:func:`ensure_timeflux`; needs
  the network once); if that fails, the report says why and the other paths are measured.

timeflux's ``lsl.Receive`` always turns on liblsl's clock synchronisation and *dejittering* (it overwrites
its own ``dejitter=False``), so the timestamps it forwards are smoothed, not the pushed ones. Its latency is
therefore measured by sequence number (the player writes each sample's number into channel 0 for that
path), and the timestamp error is reported beside it. ``clocksync=False`` is passed so it does not shift
timestamps by ``time() - local_clock()``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from latency_bench.procs import REPO_ROOT, RoleProcess, child_env

TIMEFLUX_VERSION = "0.17.2"
TIMEFLUX_PYLSL = "pylsl==1.16.2"
TIMEFLUX_VENV = REPO_ROOT / ".venv-timeflux"
TIMEFLUX_ENV_VAR = "BCI_STREAM_BENCH_TIMEFLUX_PYTHON"
NO_SETUP_ENV_VAR = "BCI_STREAM_BENCH_NO_SETUP"
"""Set (to anything) to skip setting up a missing peer (the peer is then reported as not run, with why)."""
SETUP_TIMEOUT_S = 900.0
TIMEFLUX_RATE_HZ = 1000.0
"""timeflux graph rate (scheduler cycles per second). 1 kHz: the lowest latency without a busy loop
(``rate: 0`` spins a core at 100 %); timeflux's examples use 10 to 100 Hz."""
MNELSL_POLL_S = 0.001

PATH_DESCRIPTIONS = {
    "service": "bci-stream service: worker process pull -> preprocess + ONNX step -> LSL push (default options)",
    "service_noprov": "the same, with option provenance=false (no '<name>-decoded-provenance' outlet)",
    "service_ray": "the same service with --backend ray: the worker is a Ray actor on a one-node Ray cluster on "
                   "loopback (samples stay on LSL; needs the cluster extra)",
    "direct": "the consumer reads the player's stream itself: one LSL hop, no process in between",
    "relay": "bare pylsl relay process: the worker's pull_chunk settings -> push_chunk, no compute (transport floor)",
    "timeflux": f"timeflux {TIMEFLUX_VERSION} graph lsl.Receive -> lsl.Send at rate {TIMEFLUX_RATE_HZ:g} Hz, "
                "no compute",
    "mnelsl": "mne-lsl StreamLSL (1 ms acquisition, causal IIR band-pass + CAR) polled every 1 ms, "
              "the same model in torch (1 thread), pylsl push",
}


@dataclass
class PeerStatus:
    """Whether a peer can run here, with which interpreter, and why not."""

    name: str
    available: bool
    python: str | None = None
    version: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"available": self.available, "python": self.python, "version": self.version, "reason": self.reason}


def liblsl_path() -> str:
    """The liblsl shared library this environment's pylsl loads."""
    import pylsl

    lib_dir = Path(pylsl.__file__).parent / "lib"
    for name in ("liblsl.so", "liblsl.dylib", "lsl.dll"):
        if (lib_dir / name).exists():
            return str((lib_dir / name).resolve())
    return os.environ.get("PYLSL_LIB", "")


def mnelsl_status() -> PeerStatus:
    if importlib.util.find_spec("mne_lsl") is None:
        return PeerStatus("mnelsl", False, reason='mne-lsl is not installed (pip install -e ".[bench]")')
    if importlib.util.find_spec("torch") is None:
        return PeerStatus("mnelsl", False, reason="torch is not installed (the peer runs the model in torch)")
    from importlib.metadata import version

    return PeerStatus("mnelsl", True, python=sys.executable, version=version("mne-lsl"))


def timeflux_python(explicit: str | None = None) -> str | None:
    """The interpreter with timeflux: ``explicit``, then the env variable, then ``.venv-timeflux``."""
    for cand in (explicit, os.environ.get(TIMEFLUX_ENV_VAR), str(TIMEFLUX_VENV / "bin" / "python")):
        if cand and Path(cand).exists():
            return cand
    return None


def timeflux_status(explicit: str | None = None) -> PeerStatus:
    python = timeflux_python(explicit)
    if python is None:
        return PeerStatus("timeflux", False, reason=(
            f"no timeflux interpreter: {TIMEFLUX_VENV} does not exist and {TIMEFLUX_ENV_VAR} is not set; "
            "create it with `python -m latency_bench setup-timeflux` (timeflux pins numpy==1.26.4, so it cannot "
            "live in the runtime's environment)"))
    probe = subprocess.run([python, "-c", "import timeflux.nodes.lsl, pylsl; from importlib.metadata import version;"
                            " print(version('timeflux'))"], capture_output=True, text=True, timeout=120,
                           env=timeflux_env(), cwd="/")
    if probe.returncode != 0:
        err = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return PeerStatus("timeflux", False, python=python,
                          reason=f"{python} cannot import timeflux's lsl nodes: {err}")
    return PeerStatus("timeflux", True, python=python, version=probe.stdout.strip())


def timeflux_env() -> dict[str, str]:
    env = child_env({"PYLSL_LIB": liblsl_path()})
    env.pop("PYTHONPATH", None)  # timeflux needs nothing of the repository
    return env


def setup_timeflux(venv: Path = TIMEFLUX_VENV, base_python: str = "python3.11", log: IO[str] | None = None,
                   timeout_s: float = SETUP_TIMEOUT_S) -> int:
    """Create ``venv`` with timeflux and the pylsl it supports; return the exit code of the last step.

    Progress and the tools' output go to ``log`` (default stderr); a step that takes longer than ``timeout_s``
    is stopped (exit code 124). pip gives up quickly without a network (``--timeout 20 --retries 1``).
    """
    out = log or sys.stderr
    steps = [[base_python, "-m", "venv", str(venv)],
             [str(venv / "bin" / "pip"), "install", "--quiet", "--timeout", "20", "--retries", "1",
              f"timeflux=={TIMEFLUX_VERSION}", TIMEFLUX_PYLSL]]
    for cmd in steps:
        print("+ " + " ".join(cmd), file=out, flush=True)
        try:
            code = subprocess.call(cmd, stdout=out if log else None, stderr=out if log else None, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            print(f"stopped after {timeout_s:g} s", file=out, flush=True)
            return 124
        except OSError as exc:  # base_python missing
            print(f"cannot run {cmd[0]}: {exc}", file=out, flush=True)
            return 127
        if code:
            return code
    status = timeflux_status(str(venv / "bin" / "python"))
    print(f"timeflux: {'ok, ' + str(status.version) if status.available else status.reason}", file=out, flush=True)
    return 0 if status.available else 1


def ensure_timeflux(explicit: str | None = None, echo: Callable[[str], Any] = print,
                    log_path: Path | None = None, base_python: str = "python3.11") -> PeerStatus:
    """The timeflux peer, set up on demand: when no interpreter is found, create :data:`TIMEFLUX_VENV`.

    Skipped (with the reason) when ``explicit`` or :data:`TIMEFLUX_ENV_VAR` names an interpreter (the user
    chose it) or :data:`NO_SETUP_ENV_VAR` is set. A failed setup (e.g. no network) gives an unavailable peer
    whose reason says what failed and where its log is; it never raises.
    """
    status = timeflux_status(explicit)
    if status.available or explicit or os.environ.get(TIMEFLUX_ENV_VAR):
        return status
    if os.environ.get(NO_SETUP_ENV_VAR):
        return PeerStatus("timeflux", False, reason=f"{status.reason}; not set up because {NO_SETUP_ENV_VAR} is set")
    log_path = log_path or Path(tempfile.gettempdir()) / "bci-bench-setup-timeflux.log"
    echo(f"timeflux peer missing: setting it up in {TIMEFLUX_VENV} (timeflux {TIMEFLUX_VERSION}, {TIMEFLUX_PYLSL}; "
         f"the same as `python -m latency_bench setup-timeflux`), log {log_path}")
    with open(log_path, "w", encoding="utf-8") as log:
        code = setup_timeflux(TIMEFLUX_VENV, base_python, log=log)
    if code == 0:
        echo("timeflux peer ready")
        return timeflux_status()
    tail = " | ".join(log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:])
    reason = (f"setting up {TIMEFLUX_VENV} failed (exit code {code}; no network?): {tail} (log {log_path}); "
              "retry with `python -m latency_bench setup-timeflux`")
    echo(f"timeflux peer not available: {reason}")
    return PeerStatus("timeflux", False, reason=reason)


def timeflux_graph(in_name: str, out_name: str, sfreq: float, rate: float = TIMEFLUX_RATE_HZ) -> str:
    """A timeflux app: one graph, ``lsl.Receive`` → ``lsl.Send`` (YAML text)."""
    return f"""graphs:
  - id: relay
    rate: {rate:g}
    nodes:
      - id: rx
        module: timeflux.nodes.lsl
        class: Receive
        params:
          prop: name
          value: {in_name}
          timeout: 20.0
          clocksync: false
          max_samples: 1024
      - id: tx
        module: timeflux.nodes.lsl
        class: Send
        params:
          name: {out_name}
          type: Relay
          format: double64
          rate: {sfreq:g}
          source: {out_name}-src
    edges:
      - source: rx
        target: tx
"""


def start_timeflux(python: str, in_name: str, out_name: str, sfreq: float, work_dir: Path) -> RoleProcess:
    """Run the graph (``python -m timeflux APP``); it ends on SIGINT (see :meth:`RoleProcess.close`)."""
    app = work_dir / f"timeflux-{out_name}.yaml"
    app.write_text(timeflux_graph(in_name, out_name, sfreq), encoding="utf-8")
    return RoleProcess("timeflux", argv=[python, "-m", "timeflux", str(app)], env=timeflux_env(),
                       log_path=work_dir / f"timeflux-{out_name}.log", protocol=False)


def start_mnelsl(in_name: str, out_name: str, model: Any, work_dir: Path) -> RoleProcess:
    """The mne-lsl peer (:func:`latency_bench.roles.run_mnelsl`) on ``in_name`` with ``model``'s network."""
    pre = model.preprocessing
    config = {"in": in_name, "out": out_name, "sfreq": model.sfreq, "model": model.torch_config,
              "state_dict": model.state_dict, "bandpass": pre.get("bandpass"),
              "filter_order": pre.get("filter_order", 4), "notch": pre.get("notch"), "car": pre.get("car", False),
              "mean": pre.get("mean"), "std": pre.get("std"), "poll_s": MNELSL_POLL_S, "bufsize_s": 2.0}
    return RoleProcess("mnelsl", config, log_path=work_dir / f"mnelsl-{out_name}.log")
