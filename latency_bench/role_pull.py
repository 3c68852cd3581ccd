"""The roles that pull with the worker's own calls: the consumer (records each sample's arrival) and the relay.

Both pull with :class:`~bci_stream.lsl.liblsl.ChunkPuller` and the worker's pull timeout; the relay pushes what it
pulled with :class:`~bci_stream.lsl.liblsl.ChunkPusher` and no compute: the service minus its compute and
bookkeeping, the transport floor.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pylsl

from bci_stream.lsl.liblsl import ChunkPuller, ChunkPusher, PULL_MAX_SAMPLES
from latency_bench.role_common import _copy_info, _Growing, _resolve
from latency_bench.role_protocol import Commands, emit


PULL_TIMEOUT_S = 0.05
"""The worker's ``pull_chunk`` timeout (``bci_stream.service.worker``); the relay and consumer use it too."""
MAX_BUFLEN_S = 30


class _Reader(threading.Thread):
    """Pulls one stream (the worker's pull settings) and records ``(timestamp, receive time[, seq])``."""

    def __init__(self, name: str, inlet: pylsl.StreamInlet, info: pylsl.StreamInfo, capacity: int,
                 seq_channel: int | None) -> None:
        super().__init__(name=f"reader-{name}", daemon=True)
        self.inlet = inlet
        self.seq_channel = seq_channel
        self.puller = ChunkPuller(inlet, int(info.nominal_srate() * MAX_BUFLEN_S) + 1)
        self.rec = _Growing(capacity, 3)
        self.stop = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        pull = self.puller.pull
        clock = pylsl.local_clock
        rec = self.rec
        seq_col = self.seq_channel
        try:
            while not self.stop.is_set():
                x, ts = pull(PULL_TIMEOUT_S)
                t = clock()
                k = len(ts)
                if k == 0:
                    continue
                with rec.lock:
                    rows = rec.room(k)
                    rows[:, 0] = ts
                    rows[:, 1] = t
                    rows[:, 2] = x[:, seq_col] if seq_col is not None else -1.0
                    rec.commit(k)
        except Exception as exc:  # noqa: BLE001 - reported on dump
            self.error = f"{type(exc).__name__}: {exc}"


def run_consumer(config: dict[str, Any]) -> None:
    """Record the arrival time of every sample of the streams it is told to read, until stdin closes.

    Commands: ``add`` (``name``, ``capacity_s``, ``seq_channel``, ``timeout``: replies once the inlet is
    open), ``stat`` (``name``: replies with ``total`` and the ``last`` row), ``dump`` (``name``, ``path``,
    ``remove`` (default true), ``clear``: writes ``[n, 3]`` rows of
    timestamp, receive time (both ``local_clock``) and the seq channel's value or -1; replies with ``n``
    and ``total``, the rows received since the stream was added).
    """
    readers: dict[str, _Reader] = {}
    cmds = Commands()
    emit("ready")
    while not cmds.eof.is_set():
        cmd = cmds.get(timeout=0.05)
        if cmd is None:
            continue
        try:
            kind = cmd.get("cmd")
            if kind == "add":
                name = cmd["name"]
                info = _resolve(name, float(cmd.get("timeout", 20.0)))
                inlet = pylsl.StreamInlet(info, max_buflen=MAX_BUFLEN_S, recover=True)
                full = inlet.info(timeout=10.0)
                inlet.open_stream(timeout=10.0)
                capacity = int(float(cmd.get("capacity_s", 120)) * max(full.nominal_srate(), 1.0))
                r = _Reader(name, inlet, full, capacity, cmd.get("seq_channel"))
                r.start()
                readers[name] = r
                emit("added", name=name, n_chans=full.channel_count(), sfreq=full.nominal_srate())
            elif kind == "stat":
                r = readers[cmd["name"]]
                with r.rec.lock:
                    last = r.rec.data[r.rec.n - 1].tolist() if r.rec.n else None
                emit("stat", name=cmd["name"], total=r.rec.total, last=last, error=r.error)
            elif kind == "dump":
                r = readers[cmd["name"]]
                if cmd.get("remove", True):
                    r.stop.set()
                    r.join(timeout=2.0)
                    readers.pop(cmd["name"])
                rows = r.rec.take(bool(cmd.get("clear", False)))
                np.save(cmd["path"], rows)
                emit("dumped", name=cmd["name"], path=cmd["path"], n=len(rows), total=r.rec.total, error=r.error)
                if cmd.get("remove", True):
                    r.inlet.close_stream()
            else:
                raise ValueError(f"cmd must be add, stat or dump, got {kind!r}")
        except Exception as exc:  # noqa: BLE001 - reported to the orchestrator
            emit("error", cmd=cmd.get("cmd"), name=cmd.get("name"), error=f"{type(exc).__name__}: {exc}")
    for r in readers.values():
        r.stop.set()


def run_relay(config: dict[str, Any]) -> None:
    """Pull → push with no compute, with exactly the worker's pull and push calls: the transport floor.

    Config: ``in`` (input stream name), ``out`` (output stream name).
    """
    cmds = Commands()
    info = _resolve(config["in"], float(config.get("timeout", 20.0)))
    inlet = pylsl.StreamInlet(info, max_buflen=MAX_BUFLEN_S, recover=True)
    full = inlet.info(timeout=10.0)
    outlet = pylsl.StreamOutlet(_copy_info(full, config["out"]), chunk_size=0, max_buffered=360)
    pull = ChunkPuller(inlet, PULL_MAX_SAMPLES).pull
    push = ChunkPusher(outlet)
    inlet.open_stream(timeout=10.0)
    emit("ready", out=config["out"])
    while not cmds.eof.is_set():
        x, ts = pull(PULL_TIMEOUT_S)
        if len(ts):
            push(x, ts)
