"""LSL outlets and inlets for tests (real streams on loopback)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pylsl

from bci_stream.lsl.info import make_stream_info
from support.common import TINY_CH_NAMES, TINY_SFREQ


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def liblsl_deduced(n: int, sfreq: float) -> np.ndarray:
    """The stamps liblsl gives ``n`` deduced samples at a connection's start (``last_timestamp`` 0.0, then
    ``+= 1.0 / srate`` each, bit for bit: what :class:`~bci_stream.lsl.zero_stamps.ZeroStartStamps` looks for)."""
    out, t = np.empty(n), 0.0
    for i in range(n):
        t += 1.0 / sfreq
        out[i] = t
    return out


def _pull_until(inlet: pylsl.StreamInlet, n: int, timeout: float, chunks: list, stamps: list, *,
                least: int | None = None, quiet: float = 2.0) -> None:
    """Append ``inlet``'s rows to ``chunks``/``stamps`` until ``n`` came or ``timeout`` s passed (with ``least``: also
    once ``least`` came and none for ``quiet`` s)."""
    got, deadline = 0, time.monotonic() + timeout
    last = time.monotonic()
    while got < n and time.monotonic() < deadline:
        y, ts = inlet.pull_chunk(timeout=0.2, max_samples=4096, as_numpy=True)
        if len(ts):
            chunks.append(np.array(y))
            stamps.append(np.array(ts))
            got += len(ts)
            last = time.monotonic()
        elif least is not None and got >= least and time.monotonic() - last >= quiet:
            break


def pull_all(inlet: pylsl.StreamInlet, n: int, timeout: float, *, least: int | None = None,
             quiet: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Pull until ``n`` rows came or ``timeout`` s passed, then ``0.5`` s more for any duplicate beyond them. With
    ``least`` (for rows that may legitimately never come, e.g. a ``kill -9`` caught some in the sender's buffer,
    when every row was published before the call), also stop once ``least`` rows came and none for ``quiet`` s."""
    chunks: list = []
    stamps: list = []
    _pull_until(inlet, n, timeout, chunks, stamps, least=least, quiet=quiet)
    # anything beyond n would be a duplicate: give it a moment to show up
    y, ts = inlet.pull_chunk(timeout=0.5, max_samples=4096, as_numpy=True)
    if len(ts):
        chunks.append(np.array(y))
        stamps.append(np.array(ts))
    return np.concatenate(chunks), np.concatenate(stamps)


def pull_all_each(pulls: list[tuple[pylsl.StreamInlet, int]], timeout: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`pull_all` of several inlets fed at once, ``(inlet, n)`` each: each pulled in turn until its ``n`` rows or
    ``timeout`` s (from the start of its own pull, as consecutive :func:`pull_all` calls), then ONE 0.5 s moment for
    anything beyond ``n`` (a duplicate) to show up on any of them, and each inlet emptied once more. Every inlet has
    had its ``n`` rows for at least those 0.5 s before its last look, as with :func:`pull_all`; the moments of
    consecutive calls (0.5 s each) are not added up."""
    chunks: list[list] = [[] for _ in pulls]
    stamps: list[list] = [[] for _ in pulls]
    for k, (inlet, n) in enumerate(pulls):
        _pull_until(inlet, n, timeout, chunks[k], stamps[k])
    # anything beyond n would be a duplicate: give it a moment to show up (once for all the inlets)
    time.sleep(0.5)
    for k, (inlet, _) in enumerate(pulls):
        while True:
            y, ts = inlet.pull_chunk(timeout=0.0, max_samples=4096, as_numpy=True)
            if not len(ts):
                break
            chunks[k].append(np.array(y))
            stamps[k].append(np.array(ts))
    return [(np.concatenate(c), np.concatenate(t)) for c, t in zip(chunks, stamps)]


def gone(source_id: str, timeout: float = 30.0) -> bool:
    """No resolve finds an instance of ``source_id`` any more (within ``timeout`` s). Resolves of 0.4 s: liblsl 1.18
    returns one of exactly 0.5 s that finds nothing after 5.5 s on about every other call (``bci_stream.lsl.look``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pylsl.resolve_bypred(f"source_id='{source_id}'", 0, 0.4):
            return True
    return False


def open_output(name: str) -> pylsl.StreamInlet:
    found = pylsl.resolve_bypred(f"name='{name}'", 1, 10.0)
    assert found, f"stream {name} not found"
    inlet = pylsl.StreamInlet(found[0], max_buflen=120, processing_flags=0)
    inlet.open_stream(timeout=10.0)
    return inlet


def new_outlet(name: str, source_id: str, n_chans: int = len(TINY_CH_NAMES), labels: bool = True):
    names = TINY_CH_NAMES if n_chans == len(TINY_CH_NAMES) else [f"X{i}" for i in range(n_chans)]
    if labels:
        info = make_stream_info(name, "EEG", names, TINY_SFREQ, source_id)
    else:
        info = pylsl.StreamInfo(name, "EEG", n_chans, TINY_SFREQ, "float32", source_id)
    return pylsl.StreamOutlet(info), info


def replay_in_thread(path: Path, name: str, release: threading.Event, result: dict, *, chunk_size: int = 10,
                     speed: float = 1.0) -> threading.Thread:
    """``run_replay`` of ``path`` as stream ``name`` in a daemon thread: it waits for a consumer, then for ``release``
    before its first sample; ``result`` gets ``pushed`` (its return) or ``error`` (what it raised)."""
    from bci_stream.sim.replay import run_replay

    def run() -> None:
        try:
            result["pushed"] = run_replay(path, name, chunk_size=chunk_size, speed=speed, wait_for_consumer=60.0,
                                          on_ready=lambda _rec: release.wait(60.0), linger=5.0)
        except BaseException as exc:  # reported by the test
            result["error"] = exc

    thread = threading.Thread(target=run, name=f"replay-{name}", daemon=True)
    thread.start()
    return thread


def open_replayed(name: str) -> tuple[pylsl.StreamInlet, pylsl.StreamInfo]:
    """An open inlet on the replay's stream ``name`` (buffering 60 s, no post-processing) and its full info."""
    found = pylsl.resolve_bypred(f"name='{name}'", 1, 30.0)
    assert found, "the replay's stream was not found"
    inlet = pylsl.StreamInlet(found[0], max_buflen=60, processing_flags=0)
    inlet.open_stream(timeout=10.0)
    return inlet, inlet.info(timeout=10.0)


def cue_outlet(name: str) -> pylsl.StreamOutlet:
    """A lab's cue sender: a string marker outlet ``<name>-cues`` (source_id ``<name>-cues-src``)."""
    return pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-cues", "Markers", 1, pylsl.IRREGULAR_RATE, "string",
                                               f"{name}-cues-src"))


def paced_source(name: str, seconds: float, seed: int):
    """The tiny model's EEG stream ``name`` (source_id ``<name>-src``) pushed in real time for ``seconds`` by a started
    :class:`~support.pacing.PacedPusher` (set its ``halt`` to stop); returns the outlet and the pusher."""
    from support.common import test_signal
    from support.pacing import PacedPusher

    outlet = new_outlet(name, f"{name}-src")[0]
    pusher = PacedPusher(outlet, test_signal(int(seconds * TINY_SFREQ), seed=seed), TINY_SFREQ)
    pusher.start()
    return outlet, pusher


def decoding_with_markers(handle) -> bool:
    """A supervisor handle's decoder runs, has published, and its worker follows its marker stream."""
    m = handle.status.markers or {}
    return handle.status.state == "running" and handle.status.counters.samples_out > 0 and m.get("state") == "connected"


class Arrivals:
    """The decoded stamps pulled from ``inlet`` and this host's ``local_clock()`` when each arrived: a decoded stamp
    far from its arrival is a stamp on the wrong clock (:meth:`off`)."""

    def __init__(self, inlet: pylsl.StreamInlet, timeout: float = 0.05) -> None:
        self.inlet, self.timeout = inlet, timeout
        self.stamps: list[float] = []
        self.arrived: list[float] = []

    def pull(self) -> int:
        """Pull what came (waiting up to ``timeout``); how many stamps so far."""
        _, ts = self.inlet.pull_chunk(timeout=self.timeout, max_samples=4096)
        self.stamps.extend(ts)
        self.arrived.extend([pylsl.local_clock()] * len(ts))
        return len(self.stamps)

    def off(self) -> np.ndarray:
        """Each pulled stamp's distance from its arrival here, s."""
        return np.abs(np.array(self.arrived) - np.array(self.stamps))
