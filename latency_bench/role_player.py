"""The player role (``python -m latency_bench.roles player``): pushes samples on schedule to every stream it feeds.

Each sample is pushed on its own and stamped with ``local_clock()`` at its push, or in chunks stamped on the schedule
(an amplifier's clock); the push time of every sample is recorded, so that a consumer's receive time minus it is the
end-to-end latency. A held stream waits for ``release``, which can push a backlog at once (catch-up).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pylsl

from latency_bench.role_common import _Growing, _stream_info
from latency_bench.role_protocol import Commands, emit


@dataclass
class _PlayerStream:
    """One outlet the player feeds at ``sfreq``, each sample stamped with ``local_clock()`` at its push."""

    name: str
    outlet: pylsl.StreamOutlet
    data: np.ndarray  # [n, C] float32, cycled
    sfreq: float
    seq_channel: int | None
    pushed: _Growing
    hold: bool = False
    t0: float = 0.0
    n: int = 0  # samples pushed so far (the next sample's seq)
    row: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))
    chunk: int = 0
    """0: each sample pushed alone, stamped with its push time; k >= 1: chunks of k samples pushed when the last
    is due, each sample stamped with its scheduled time ``t0 + seq / sfreq`` (an amplifier's clock)."""

    def next_due(self) -> float:
        return self.t0 + (self.n + max(self.chunk, 1) - 1) / self.sfreq

    def push(self) -> None:
        if self.chunk:
            self.push_chunk()
        else:
            self.push_one()

    def push_one(self) -> None:
        row = self.row
        row[:] = self.data[self.n % len(self.data)]
        if self.seq_channel is not None:
            row[self.seq_channel] = self.n
        t = pylsl.local_clock()
        self.outlet.push_sample(row, t)
        with self.pushed.lock:
            self.pushed.room(1)[0] = t
            self.pushed.commit(1)
        self.n += 1

    def push_chunk(self) -> None:
        """Push the next ``chunk`` samples at once, stamped per sample on the schedule; record stamp and push time."""
        k = self.chunk
        start = self.n % len(self.data)
        x = self.data[start : start + k] if start + k <= len(self.data) else self.data[
            (start + np.arange(k)) % len(self.data)]
        if self.seq_channel is not None:
            x = x.copy()
            x[:, self.seq_channel] = self.n + np.arange(k)
        stamps = [self.t0 + (self.n + i) / self.sfreq for i in range(k)]
        t = pylsl.local_clock()
        if k == 1:
            self.outlet.push_sample(x[0], stamps[0])
        else:
            self.outlet.push_chunk(x, stamps)
        with self.pushed.lock:
            rows = self.pushed.room(k)
            rows[:, 0] = stamps
            rows[:, 1] = t
            self.pushed.commit(k)
        self.n += k

    def push_backlog(self, n_samples: int) -> float:
        """Push ``n_samples`` at once, stamped as if recorded during the last ``n_samples / sfreq`` seconds.

        Returns the push time. Live pushing resumes from then on.
        """
        idx = (self.n + np.arange(n_samples)) % len(self.data)
        x = np.ascontiguousarray(self.data[idx])
        if self.seq_channel is not None:
            x[:, self.seq_channel] = self.n + np.arange(n_samples)
        t = pylsl.local_clock()
        ts = t - (n_samples - 1 - np.arange(n_samples)) / self.sfreq
        self.outlet.push_chunk(x, ts.tolist())
        with self.pushed.lock:
            rows = self.pushed.room(n_samples)
            rows[:, 0] = ts
            rows[:, 1] = t
            self.pushed.commit(n_samples)
        self.n += n_samples
        self.t0 = t - self.n / self.sfreq + 1.0 / self.sfreq  # the next live sample is due one period later
        return t


def _player_data(spec: dict[str, Any]) -> np.ndarray:
    n_chans = int(spec["n_chans"])
    if spec.get("data_path"):
        data = np.load(spec["data_path"]).astype(np.float32)
        if data.ndim != 2 or data.shape[1] != n_chans:
            raise ValueError(f"data_path must hold [n_samples, {n_chans}] samples, got shape {data.shape}")
        return data
    rng = np.random.default_rng(int(spec.get("seed", 0)))
    n = int(min(max(spec["sfreq"], 64), 4096))
    return (10.0 * rng.standard_normal((n, n_chans))).astype(np.float32)


def _add_player_stream(spec: dict[str, Any]) -> _PlayerStream:
    n_chans = int(spec["n_chans"])
    sfreq = float(spec["sfreq"])
    ch_names = spec.get("ch_names") or [f"E{i + 1}" for i in range(n_chans)]
    info = _stream_info(spec["name"], spec.get("source_id") or f"{spec['name']}-src", list(ch_names), sfreq,
                        "float32")
    outlet = pylsl.StreamOutlet(info, chunk_size=0, max_buffered=360)
    capacity = int(spec.get("capacity_s", 120) * sfreq)
    s = _PlayerStream(spec["name"], outlet, _player_data(spec), sfreq, spec.get("seq_channel"),
                      _Growing(capacity, 2), hold=bool(spec.get("hold", False)), chunk=int(spec.get("chunk_size") or 0))
    s.row = np.empty(n_chans, dtype=np.float32)
    s.t0 = pylsl.local_clock()
    return s


def run_player(config: dict[str, Any]) -> None:
    """Push samples on schedule to every active stream until stdin closes.

    Commands: ``add`` (``stream``: name, n_chans, sfreq, ch_names, seq_channel, data_path | seed,
    capacity_s, hold, chunk_size: see :attr:`_PlayerStream.chunk`), ``release`` (``name``, ``backlog``: samples
    pushed at once before live pushing starts; replies with the push time), ``hold`` (``name``: stop pushing),
    ``remove`` (``name``), ``dump`` (``name``, ``path``, ``clear``: writes the push time of every sample recorded,
    index = seq when nothing was cleared (``push_times``: ``[n, 2]`` rows of timestamp and push time instead);
    replies with ``n`` and ``total`` pushed).
    """
    streams: dict[str, _PlayerStream] = {}
    cmds = Commands()
    for spec in config.get("streams", []):
        streams[spec["name"]] = _add_player_stream(spec)
    emit("ready")
    sleep = time.sleep
    clock = pylsl.local_clock
    while not cmds.eof.is_set():
        cmd = cmds.get()
        if cmd is not None:
            try:
                _player_command(cmd, streams)
            except Exception as exc:  # report, keep playing the other streams
                emit("error", cmd=cmd.get("cmd"), error=f"{type(exc).__name__}: {exc}")
            continue
        live = [s for s in streams.values() if not s.hold]
        if not live:
            cmds.eof.wait(0.002)
            continue
        due = min(s.next_due() for s in live)
        wait = due - clock()
        if wait > 0:
            sleep(min(wait, 0.01))
            continue
        now = clock()
        for s in live:
            while s.next_due() <= now:
                s.push()


def _player_command(cmd: dict[str, Any], streams: dict[str, _PlayerStream]) -> None:
    kind = cmd.get("cmd")
    if kind == "add":
        s = _add_player_stream(cmd["stream"])
        streams[s.name] = s
        emit("added", name=s.name)
    elif kind == "release":
        s = streams[cmd["name"]]
        backlog = int(cmd.get("backlog", 0))
        t = s.push_backlog(backlog) if backlog else pylsl.local_clock()
        if not backlog:
            s.t0 = t - s.n / s.sfreq
        s.hold = False
        emit("released", name=s.name, t=t, backlog=backlog)
    elif kind == "hold":
        streams[cmd["name"]].hold = True
        emit("held", name=cmd["name"], n=streams[cmd["name"]].n)
    elif kind == "remove":
        s = streams.pop(cmd["name"])
        del s.outlet
        emit("removed", name=cmd["name"])
    elif kind == "dump":
        s = streams[cmd["name"]]
        rows = s.pushed.take(bool(cmd.get("clear", False)))
        np.save(cmd["path"], rows if cmd.get("push_times") else rows[:, 0])
        emit("dumped", name=s.name, path=cmd["path"], n=len(rows), total=s.pushed.total)
    else:
        raise ValueError(f"cmd must be add, release, hold, remove or dump, got {kind!r}")
