"""Helpers of the fault suite. The helpers of the other test files are imported from there, not copied."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pylsl
from websockets.sync.client import connect as ws_connect

from bci_stream.core.settings import Settings
from support.common import TINY_CH_NAMES, TINY_SFREQ, test_signal
from support.http import wait_status

TOKEN = "fault-suite-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HD_CH_NAMES = [f"E{i:02d}" for i in range(64)]
HD_SFREQ = 1000.0
#: what a well-behaved control plane may answer a request it cannot or will not serve
CLIENT_ERRORS = {400, 401, 404, 405, 409, 413, 415, 422}


#: the worker kinds a decoder may ask for (``options.worker``); the faults that test isolation run with each
WORKER_KINDS = ("dedicated", "shared")
#: shared workers of a fault-suite server: fewer than its decoders, so that a faulty stream shares its worker
#: with others on any machine (the default, one per core, would differ from machine to machine)
SHARED_WORKERS = 2


def make_settings(models_dir: Path, recordings_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(host="127.0.0.1", port=0, models_dir=models_dir, status_interval=0.1,
                                  token=TOKEN, recordings_dir=recordings_dir, restart_backoff=0.2,
                                  shared_workers=SHARED_WORKERS)
    values.update(overrides)
    return Settings(**values)


def export_model_for(root: Path, name: str, *, ch_names: list[str] = TINY_CH_NAMES, sfreq: float = TINY_SFREQ,
                     n_outputs: int = 3, head: str = "categorical", cell: str = "gru", seed: int = 0,
                     n_layers: int = 2, hidden_size: int = 16) -> None:
    """A random-weight model exported with the real exporter (every preprocessing stage on), like
    ``conftest.export_tiny`` but with any channel set, rate and output count."""
    import torch

    from bci_stream.train.export.onnx_export import export_model
    from bci_stream.train.nets.rnn import CausalRNN
    from bci_stream.dsp.preprocess import PreprocessingConfig

    torch.manual_seed(seed)
    model = CausalRNN(len(ch_names), n_outputs, hidden_size=hidden_size, n_layers=n_layers, cell=cell, head=head)
    rng = np.random.default_rng(seed)
    pre = PreprocessingConfig(bandpass=(1.0, 40.0), notch=50.0, car=True,
                              mean=rng.normal(0, 0.1, len(ch_names)).tolist(),
                              std=rng.uniform(5, 15, len(ch_names)).tolist())
    labels = ["rest", "left", "right"] if n_outputs == 3 else [f"y{i}" for i in range(n_outputs)]
    export_model(model, root / name, name=name, version="1.0.0", ch_names=list(ch_names), sfreq=sfreq,
                 output_labels=labels, preprocessing=pre, training={"data": "random weights, fault-suite fixture"})


def post_decoder(client: httpx.Client, stream: str | dict, model: str = "tiny-gru", **options: Any) -> str:
    """POST /decoders (201 expected); the decoder's id. Does not wait for it to run."""
    selector = {"name": stream} if isinstance(stream, str) else stream
    r = client.post("/decoders", json={"stream": selector, "model": model, "options": options})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def start_running(client: httpx.Client, stream: str | dict, model: str = "tiny-gru", timeout: float = 90.0,
                  **options: Any) -> str:
    """POST /decoders and wait (generously: workers start slowly on a loaded machine) until it runs: ``running``, or
    ``stalled``, which only a running decoder becomes (on a stream sending nothing, ``running`` lasts
    ``stall_timeout_s``, 1 s by default: a window that polling on a loaded machine may miss)."""
    from support.http import wait_status

    decoder_id = post_decoder(client, stream, model, **options)
    wait_status(client, decoder_id, lambda s: s["state"] in ("running", "stalled"), timeout,
                f"decoder {decoder_id} to run")
    return decoder_id


def status(client: httpx.Client, decoder_id: str) -> dict:
    r = client.get(f"/decoders/{decoder_id}")
    assert r.status_code == 200, r.text
    return r.json()


def kill_and_restarted(client: httpx.Client, decoder_id: str, pid: int) -> dict:
    """``kill -9`` of worker ``pid``; the status once a new worker decodes (its first restart, over 500 samples out)."""
    os.kill(pid, signal.SIGKILL)
    return wait_status(client, decoder_id, lambda s: s["restarts"] == 1 and s["pid"] != pid
                       and s["counters"].get("samples_out", 0) > 500, 90, "the new worker to decode")


def assert_service_up(client: httpx.Client) -> None:
    """/health answers 200 and /ready 200 (the supervisor runs, the registry has valid models)."""
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    r = client.get("/ready")
    assert r.status_code == 200 and r.json()["ready"] is True, r.text


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """``pid`` stopped (SIGSTOP) for the block; SIGCONT after it, in case it still lives."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def proc_state(pid: int) -> str | None:
    """The process's state letter from ``/proc/<pid>/stat`` ('R', 'S', 'Z' for a zombie ...), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[0]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    return proc_state(pid) not in (None, "Z")


def pid_gone(pid: int, timeout: float = 10.0) -> bool:
    """The process ended and was reaped (no zombie left) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while proc_state(pid) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def pid_ended(pid: int, timeout: float = 10.0) -> bool:
    """The process ended (gone, or a zombie not reaped yet: a worker whose parent died waits for its new parent) within
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def supervisor_of(server: Any) -> Any:
    """The :class:`~bci_stream.service.supervisor.Supervisor` of a :class:`BackgroundServer` (it runs in this
    process): where a test reads which worker hosts which decoder."""
    return server.server.config.app.state.supervisor


def left_its_worker(server: Any, decoder_id: str, st: dict, timeout: float = 10.0) -> bool:
    """The decoder no longer holds a place in any worker, whatever its kind: a dedicated decoder's process ended
    and was reaped; a shared decoder's slot left its worker (the worker said so, and the supervisor's pool no
    longer places it there), while that worker may go on serving other streams."""
    worker = st.get("worker") or {}
    if worker.get("kind", "dedicated") == "dedicated":
        return pid_gone(st["pid"], timeout)
    pool = supervisor_of(server).pool
    deadline = time.monotonic() + timeout
    while pool.worker_of(decoder_id) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def released(outlet: pylsl.StreamOutlet, timeout: float = 10.0) -> bool:
    """No inlet reads ``outlet`` any more (a decoder that ended closed its inlet), within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while outlet.have_consumers():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _live_procs() -> dict[int, tuple[int, bytes]]:
    """Every live (not zombie) process's parent pid and command line, from /proc."""
    procs = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] != "Z":
                procs[int(entry.name)] = (int(fields[1]), (entry / "cmdline").read_bytes())
        except (OSError, ValueError, IndexError):
            continue
    return procs


def _fork_servers_of(procs: dict[int, tuple[int, bytes]]) -> set[int]:
    me = os.getpid()
    return {pid for pid, (ppid, cmd) in procs.items() if ppid == me and b"multiprocessing.forkserver" in cmd}


def fork_servers() -> set[int]:
    """This process's live ``multiprocessing`` fork servers (from /proc): the one its services' local workers are
    forked from (``bci_stream.service.spawn.worker_context``)."""
    return _fork_servers_of(_live_procs())


def worker_pids() -> set[int]:
    """Live decoder workers of this process's services (from /proc): its ``multiprocessing`` children started by
    spawn, and the children of its fork server (:func:`fork_servers`)."""
    me, procs = os.getpid(), _live_procs()
    servers = _fork_servers_of(procs)
    return {pid for pid, (ppid, cmd) in procs.items()
            if (ppid == me and b"spawn_main" in cmd) or ppid in servers}


def push_indexed(outlet: pylsl.StreamOutlet, x: np.ndarray, ts: np.ndarray, rate: float, chunk: int = 10) -> None:
    """Push ``x[i]`` with timestamp ``ts[i]`` (any values: jumps allowed), sample ``i`` due ``i / rate`` s
    after the first push: the pace is the sender's, the timestamps say whatever its clock says."""
    t_start = time.monotonic()
    for i in range(0, len(x), chunk):
        wait = t_start + min(i + chunk, len(x)) / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        outlet.push_chunk(x[i : i + chunk], ts[i : i + chunk].tolist())


class WsReader(threading.Thread):
    """Reads a decoder's WS outputs in a thread into lists (``seq``, ``t``, ``y``, latest ``dropped``)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.ws = ws_connect(url, max_size=None).__enter__()  # closed in close()
        self.seq: list[int] = []
        self.t: list[float] = []
        self.y: list[list[float]] = []
        self.dropped = 0
        self.messages = 0
        self._stop_flag = threading.Event()

    def run(self) -> None:
        while not self._stop_flag.is_set():
            try:
                msg = json.loads(self.ws.recv(timeout=0.2))
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - the server closed the socket (decoder deleted)
                return
            self.take(msg)

    def take(self, msg: dict) -> None:
        self.seq.extend(msg["seq"])
        self.t.extend(msg["t"])
        self.y.extend(msg["y"])
        self.dropped = msg["dropped"]
        self.messages += 1

    def wait_rows(self, n: int, timeout: float) -> None:
        """Until rows received + rows dropped reach ``n``."""
        deadline = time.monotonic() + timeout
        while len(self.seq) + self.dropped < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.seq) + self.dropped >= n, (
            f"WS client got {len(self.seq)} rows + {self.dropped} dropped in {timeout} s, expected {n}")

    def close(self) -> None:
        self._stop_flag.set()
        self.join(timeout=5)
        self.ws.close()


def stalled_ws(url: str) -> Any:
    """A WebSocket client that will not read: a tiny socket receive buffer, a one-message client queue,
    no compression (so the server's socket really fills up). Read it later with ``.recv``."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    return ws_connect(url, sock=sock, max_size=None, max_queue=1, compression=None).__enter__()


def ws_url(server_url: str, decoder_id: str, query: str = "") -> str:
    """The outputs WebSocket of a decoder, with the token as a browser sends it (``?token=``)."""
    extra = "&" + query.lstrip("?") if query else ""
    return server_url.replace("http://", "ws://") + f"/decoders/{decoder_id}/outputs?token={TOKEN}{extra}"


class LivePusher(threading.Thread):
    """Sends the test signal in real time (500 Hz, 10-sample chunks) until halted; keeps the timestamps it sent.
    ``first_consumer``: from when the outlet has a consumer; ``backlog``: that many samples of the grid before it
    at once, then in real time."""

    def __init__(self, outlet: pylsl.StreamOutlet, seed: int = 0, *, first_consumer: bool = False,
                 backlog: int = 0) -> None:
        super().__init__(daemon=True)
        self.outlet, self.first_consumer, self.backlog = outlet, first_consumer, backlog
        self.x = test_signal(60 * int(TINY_SFREQ), seed=seed)
        self.sent: list[float] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while self.first_consumer and not self.outlet.have_consumers() and not self.halt.wait(0.001):
            pass
        t0, i = pylsl.local_clock() - self.backlog / TINY_SFREQ, 0
        while not self.halt.is_set() and i < len(self.x):
            ts = t0 + np.arange(i, i + 10) / TINY_SFREQ
            if (wait := ts[-1] - pylsl.local_clock()) > 0:
                time.sleep(wait)
            self.outlet.push_chunk(self.x[i:i + 10], ts.tolist())
            self.sent.extend(ts.tolist())
            i += 10
