"""The processes of the end-to-end benchmarks: player, consumer, relay, and the mne-lsl peer.

Each role runs as its own OS process (``python -m latency_bench.roles ROLE CONFIG_JSON``) so that it has
its own GIL and its CPU time can be read from ``/proc``. The protocol is line-based JSON:

* commands arrive on **stdin**, one JSON object per line (``{"cmd": "add", ...}``); end of stdin (the
  orchestrator closed the pipe or died) stops the role, so a crashed benchmark leaves no process behind;
* events leave on **stdout**, one JSON object per line: ``{"event": "ready"}`` once the role is set up,
  then one reply per command (``{"event": "added", "name": ...}``, ``{"event": "dumped", ...}``), and
  ``{"event": "error", "error": "..."}`` when something failed.

Recorded timestamps are ``pylsl.local_clock()`` values: every process on the host reads the same clock,
so a consumer's receive time minus the player's push time is the end-to-end latency.

The relay and the consumer pull and push with the worker's own calls (:class:`~bci_stream.lsl.liblsl.
ChunkPuller`, :class:`~bci_stream.lsl.liblsl.ChunkPusher`), so the relay is the service minus its
compute and bookkeeping.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pylsl

from bci_stream.lsl.liblsl import ChunkPuller, ChunkPusher, PULL_MAX_SAMPLES

PULL_TIMEOUT_S = 0.05
"""The worker's ``pull_chunk`` timeout (``bci_stream.service.worker``); the relay and consumer use it too."""
MAX_BUFLEN_S = 30


# --------------------------------------------------------------------------------------------------
# Protocol


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout (the orchestrator reads them)."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class Commands:
    """Reads stdin lines on a thread; ``get()`` returns the next command or None; ``eof`` once stdin closed."""

    def __init__(self) -> None:
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self.eof = threading.Event()
        threading.Thread(target=self._read, name="commands", daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            line = line.strip()
            if line:
                try:
                    self.queue.put(json.loads(line))
                except json.JSONDecodeError as exc:
                    emit("error", error=f"command must be a JSON object, got {line!r}: {exc}")
        self.eof.set()

    def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        try:
            return self.queue.get(timeout=timeout) if timeout else self.queue.get_nowait()
        except queue.Empty:
            return None


class _Growing:
    """A preallocated float64 table of ``n_cols`` columns that doubles when full (no per-sample allocation).

    The writer holds :attr:`lock` from :meth:`room` to :meth:`commit`; :meth:`take` (another thread) copies
    the rows out and optionally empties the table, under the same lock.
    """

    def __init__(self, capacity: int, n_cols: int) -> None:
        self.data = np.empty((max(16, capacity), n_cols))
        self.n = 0
        self.total = 0
        self.lock = threading.Lock()

    def take(self, clear: bool) -> np.ndarray:
        with self.lock:
            rows = self.data[: self.n].copy()
            if clear:
                self.n = 0
        return rows

    def room(self, k: int) -> np.ndarray:
        """A writable view of the next ``k`` rows (grown if needed); call :meth:`commit` after filling it."""
        if self.n + k > len(self.data):
            bigger = np.empty((max(2 * len(self.data), self.n + k), self.data.shape[1]))
            bigger[: self.n] = self.data[: self.n]
            self.data = bigger
        return self.data[self.n : self.n + k]

    def commit(self, k: int) -> None:
        self.n += k
        self.total += k

    def view(self) -> np.ndarray:
        return self.data[: self.n]


def _resolve(name: str, timeout: float) -> pylsl.StreamInfo:
    found = pylsl.resolve_bypred(f"name='{name}'", 1, timeout)
    if not found:
        raise TimeoutError(f"no LSL stream named {name!r} within {timeout:g} s")
    return found[0]


def _stream_info(name: str, source_id: str, ch_names: list[str], sfreq: float, channel_format: str,
                 stype: str = "EEG", unit: str = "microvolts") -> pylsl.StreamInfo:
    from bci_stream.lsl.info import make_stream_info

    return make_stream_info(name, stype, ch_names, sfreq, source_id, unit=unit,
                            ch_type="EEG" if stype == "EEG" else "misc", channel_format=channel_format)


def _copy_info(src: pylsl.StreamInfo, name: str) -> pylsl.StreamInfo:
    """The same shape and channel labels as ``src`` under another name (for relays)."""
    labels = []
    ch = src.desc().child("channels").child("channel")
    while not ch.empty():
        labels.append(ch.child_value("label"))
        ch = ch.next_sibling("channel")
    if len(labels) != src.channel_count():
        labels = [f"ch{i + 1}" for i in range(src.channel_count())]
    fmt = {pylsl.cf_float32: "float32", pylsl.cf_double64: "double64", pylsl.cf_int32: "int32",
           pylsl.cf_int16: "int16"}[src.channel_format()]
    return _stream_info(name, f"{src.source_id()}/{name}", labels, src.nominal_srate(), fmt, stype=src.type())


# --------------------------------------------------------------------------------------------------
# Player


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
        k, start = self.chunk, self.n % len(self.data)
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
    n_chans, sfreq = int(spec["n_chans"]), float(spec["sfreq"])
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
    capacity_s, hold, chunk_size: see :attr:`_PlayerStream.chunk`), ``release`` (``name``, ``backlog``: samples pushed at once before live pushing
    starts; replies with the push time), ``hold`` (``name``: stop pushing), ``remove`` (``name``), ``dump``
    (``name``, ``path``, ``clear``:
    writes the push time of every sample recorded, index = seq when nothing was cleared (``push_times``:
    ``[n, 2]`` rows of timestamp and push time instead); replies with
    ``n`` and ``total`` pushed).
    """
    streams: dict[str, _PlayerStream] = {}
    cmds = Commands()
    for spec in config.get("streams", []):
        streams[spec["name"]] = _add_player_stream(spec)
    emit("ready")
    sleep, clock = time.sleep, pylsl.local_clock
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


# --------------------------------------------------------------------------------------------------
# Consumer


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
        pull, clock, rec, seq_col = self.puller.pull, pylsl.local_clock, self.rec, self.seq_channel
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


# --------------------------------------------------------------------------------------------------
# Relay: the transport floor


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


# --------------------------------------------------------------------------------------------------
# mne-lsl peer: StreamLSL polling loop + the same model in torch


def run_mnelsl(config: dict[str, Any]) -> None:
    """An mne-lsl ``StreamLSL`` polling loop that runs the model in torch and publishes each output sample
    with its input timestamp, the way a user of mne-lsl would write it.

    ``StreamLSL`` acquires on its own thread every ``acquisition_delay`` (1 ms, its default), applies the
    causal band-pass (``Stream.filter``, IIR SOS with carried state) and the average reference; the loop
    polls ``n_new_samples`` every ``poll_s``, reads the new samples, standardises them, steps the torch
    model over them with the recurrent state carried, and pushes the outputs on a pylsl outlet.

    Config: ``in``, ``out``, ``sfreq``, ``model`` (``CausalRNN`` constructor arguments), ``state_dict``
    (path of a torch state dict, or None for the seed's random weights), ``bandpass`` ([lo, hi] or None),
    ``car``, ``mean``, ``std``, ``poll_s``, ``bufsize_s``.
    """
    import torch
    from mne_lsl.stream import StreamLSL

    from bci_stream.train.nets.rnn import CausalRNN

    torch.set_num_threads(1)
    cmds = Commands()
    torch.manual_seed(int(config.get("seed", 0)))
    model = CausalRNN(**config["model"]).eval()
    if config.get("state_dict"):
        model.load_state_dict(torch.load(config["state_dict"], weights_only=True))
    sfreq = float(config["sfreq"])
    stream = StreamLSL(bufsize=float(config.get("bufsize_s", 2.0)), name=config["in"])
    stream.connect(acquisition_delay=0.001, timeout=20.0)
    if config.get("car", True):
        stream.set_eeg_reference("average")
    if config.get("bandpass"):
        lo, hi = config["bandpass"]
        stream.filter(lo, hi, iir_params={"order": int(config.get("filter_order", 4)), "ftype": "butter",
                                          "output": "sos"})
    if config.get("notch"):
        stream.notch_filter(float(config["notch"]))
    mean = np.asarray(config.get("mean") or 0.0, dtype=np.float32)
    std = np.asarray(config.get("std") or 1.0, dtype=np.float32)
    labels = [f"y{i}" for i in range(config["model"]["n_outputs"])]
    outlet = pylsl.StreamOutlet(_stream_info(config["out"], f"{config['in']}/mnelsl", labels, sfreq, "float32",
                                             stype="Decoded", unit="probability"), chunk_size=0, max_buffered=360)
    picks = np.arange(len(stream.ch_names))
    state = list(model.zero_state(1))
    last_ts = -np.inf
    poll = float(config.get("poll_s", 0.001))
    window = float(config.get("bufsize_s", 2.0))
    emit("ready", out=config["out"])
    with torch.inference_mode():
        while not cmds.eof.is_set():
            if stream.n_new_samples == 0:
                time.sleep(poll)
                continue
            data, ts = stream.get_data(winsize=window, picks=picks)
            start = int(np.searchsorted(ts, last_ts, side="right"))
            if start >= len(ts):
                continue
            x = ((data[:, start:].T - mean) / std).astype(np.float32)
            new_ts = ts[start:]
            last_ts = float(new_ts[-1])
            y, *state = model(torch.from_numpy(x)[None], *state)
            outlet.push_chunk(y[0].numpy(), new_ts.tolist())
    stream.disconnect()


ROLES = {"player": run_player, "consumer": run_consumer, "relay": run_relay, "mnelsl": run_mnelsl}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ROLES:
        print(f"usage: python -m latency_bench.roles {{{','.join(ROLES)}}} CONFIG_JSON", file=sys.stderr)
        return 2
    try:
        ROLES[argv[0]](json.loads(argv[1]))
    except Exception as exc:  # noqa: BLE001 - the orchestrator reads it
        emit("error", error=f"{type(exc).__name__}: {exc}")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
