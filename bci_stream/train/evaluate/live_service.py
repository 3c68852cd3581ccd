"""One recording through the in-process service, as ``evaluate --live`` runs it.

:class:`ReplayThread` streams the recording on LSL (``<name>`` and its cues on ``<name>-markers``, with the replay's
``wait_for_consumer``); :func:`stream_through_service` starts a decoder on it (``POST /decoders``) and waits until
the decoder runs and its marker follower has connected to the replay's marker stream, then lets the replay push and
reads every decoded sample and every marker, and returns them with the service's final status (counters, latency,
live ``scoring``). Waiting for the follower means every cue marker is received by the service: a marker pushed before
the follower's inlet opened would never reach its live scoring (the replay always opens its marker outlet, with or
without events, so the follower always finds it).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from bci_stream.core.errors import BciStreamError
from bci_stream.service.saturation import BUSY_WARN


class LiveEvaluationError(BciStreamError):
    """A live evaluation cannot run as asked, or the service did not decode the replayed stream."""


class ReplayThread(threading.Thread):
    """``run_replay`` on a thread: outlets up → :attr:`ready`; first push once :attr:`started_pushing` is set."""

    def __init__(self, rec: Any, name: str, speed: float, wait_s: float) -> None:
        super().__init__(name=f"replay-{name}", daemon=True)
        self.rec, self.stream_name, self.source_id, self.speed, self.wait_s = rec, name, f"{name}-src", speed, wait_s
        self.ready, self.stop_event, self.started_pushing = threading.Event(), threading.Event(), threading.Event()
        self.aborted, self.pushed, self.error = False, None, None
        self.marker_stream = f"{name}-markers"  #: the name run_replay gives the outlet of the cues

    def _on_ready(self, _rec: Any) -> None:
        self.ready.set()
        self.started_pushing.wait()
        if self.aborted:
            raise LiveEvaluationError("the evaluation stopped before the first push")

    def abort(self) -> None:
        """Never start, or stop pushing (a replay that has finished is left as it is)."""
        self.aborted = True
        self.stop_event.set()
        self.started_pushing.set()

    def run(self) -> None:
        from bci_stream.sim.replay import run_replay

        try:
            self.pushed = run_replay(self.rec.source, self.stream_name, recording=self.rec, speed=self.speed,
                                     source_id=self.source_id, stop_event=self.stop_event,
                                     on_ready=self._on_ready, wait_for_consumer=self.wait_s, linger=self.wait_s)
        except BaseException as exc:  # reported by the evaluating thread (unless it gave up first)
            self.error = exc
        finally:
            self.ready.set()


def _status(client: Any, decoder_id: str) -> dict[str, Any]:
    return client.get(f"/decoders/{decoder_id}").raise_for_status().json()


def _final(st: Mapping[str, Any], received: int, cues: int) -> bool:
    """The status counts every sample we received decoded and, when it scores, every trial cue we received."""
    scoring = st.get("scoring") or {}
    return st["counters"]["samples_out"] >= received and ("trials" not in scoring
                                                          or scoring.get("markers_mapped", 0) >= cues)


def _open_inlet(name: str, max_buflen: int, closers: contextlib.ExitStack, timeout: float = 10.0) -> Any:
    import pylsl
    found = pylsl.resolve_bypred(f"name='{name}'", 1, timeout)
    if not found:
        raise LiveEvaluationError(f"LSL stream {name!r} was not found within {timeout:g} s")
    inlet = pylsl.StreamInlet(found[0], max_buflen=max_buflen, processing_flags=0)
    closers.callback(inlet.close_stream)
    inlet.open_stream(timeout=timeout)
    return inlet


#: The decoder's LSL inlet buffer (``options.max_buffer_s``) for a replay: the whole file and 30 s more, within the
#: option's bound. liblsl counts it in seconds *at the stream's nominal rate*, so a fixed 60 s held under 2 s of wall
#: time at 32x: a worker starved that long on a loaded machine lost samples mid-file.
BUFFER_MAX_S = 600.0


def start_decoder(client: Any, replay: ReplayThread, model_ref: str, timeout: float,
                  markers: Mapping[str, Any], buffer_s: float = 60.0) -> tuple[str, str]:
    """``POST /decoders`` on the replay's stream with ``options.markers`` = ``markers``; waits (at most ``timeout``)
    until it runs and, when it follows markers (``enabled``, the default), until its follower has connected to the
    marker stream (status ``markers.state``): returns its id and output stream's name.

    Raises
    ------
    LiveEvaluationError
        The service refused the decoder, or it was not running (with its follower connected) within ``timeout``:
        the message names the marker stream; the decoder is stopped.
    """
    spec = {"stream": {"name": replay.stream_name, "source_id": replay.source_id}, "model": model_ref,
            "options": {"resolve_timeout": timeout, "max_buffer_s": min(BUFFER_MAX_S, max(60.0, buffer_s)),
                        "markers": dict(markers)}}
    r = client.post("/decoders", json=spec)
    if r.status_code != 201:
        raise LiveEvaluationError(f"POST /decoders answered {r.status_code}: {r.text}")
    follows = markers.get("enabled", True)
    followed = (markers.get("stream") or {}).get("name") or replay.marker_stream
    decoder_id, deadline = r.json()["id"], time.monotonic() + timeout
    # 'stalled' is no failure here: the replay pushes once this returns (a follower slower than stall_timeout_s)
    while ((st := _status(client, decoder_id))["state"] not in ("running", "stalled") or not st.get("output_stream")
           or (follows and (st.get("markers") or {}).get("state") != "connected")):
        if st["state"] in ("error", "stopped") or time.monotonic() > deadline:
            client.delete(f"/decoders/{decoder_id}")
            if st["state"] in ("error", "stopped") or not st.get("output_stream") or not follows:
                raise LiveEvaluationError(f"decoder {decoder_id} was not running within {timeout:g} s: state "
                                          f"{st['state']!r}, {st.get('last_error')}")
            raise LiveEvaluationError(f"decoder {decoder_id} runs (state {st['state']!r}), but its marker follower "
                                      f"did not connect to {followed!r} within {timeout:g} s (markers.state "
                                      f"{(st.get('markers') or {}).get('state')!r}): evaluate --live needs every cue "
                                      "marker to reach the service")
        time.sleep(0.05)
    return decoder_id, st["output_stream"]["name"]


def stream_through_service(client: Any, model_ref: str, rec: Any, speed: float, card: Any, timeout: float,
                           markers: Mapping[str, Any]) -> dict[str, Any]:
    """Replay one recording, decode it in the service (``options.markers`` = ``markers``): every decoded sample,
    the markers, the service's final status (``counters``, ``latency_ms``, ``scoring``: once it has counted every
    sample decoded and every trial cue received here, at most 5 s after the end) and ``saturated``: the status's
    ``load`` the first time it held the service's "cannot keep up" warning (None if it never did)."""
    import pylsl

    from bci_stream.lsl.info import read_ch_names

    replay = ReplayThread(rec, f"bci-eval-{os.getpid()}-{uuid.uuid4().hex[:8]}", speed, wait_s=timeout)
    replay.start()
    decoder_id, inlets = None, contextlib.ExitStack()
    try:
        if not replay.ready.wait(timeout) or replay.error is not None:
            raise LiveEvaluationError(f"the replay of {rec.source} did not start: {replay.error!r}")
        decoder_id, out_name = start_decoder(client, replay, model_ref, timeout, markers, rec.duration + 30.0)
        inlet = _open_inlet(out_name, int(math.ceil(rec.duration)) + 30, inlets)  # room for the whole file
        if (labels := read_ch_names(inlet.info(timeout=10.0))) != list(card.output.labels):
            raise LiveEvaluationError(f"{out_name!r} has channels {labels}, model outputs {card.output.labels}")
        marker_inlet = _open_inlet(replay.marker_stream, 60, inlets)
        replay.started_pushing.set()
        ys, tss, marks, max_lag, drain_until, saturated = [], [], [], 0.0, None, None
        now = last_data = time.monotonic()
        t_end, next_check = now + rec.duration / speed + timeout, now + 1.0
        while drain_until is None or now < drain_until:  # after the last sample, 0.5 s more: duplicates?
            y, ts = inlet.pull_chunk(timeout=0.1, max_samples=4096, as_numpy=True)
            m, mts = marker_inlet.pull_chunk(timeout=0.0)
            marks += [(s[0], t) for s, t in zip(m, mts)]
            if len(ts):
                ys.append(np.array(y, dtype=np.float64))
                tss.append(np.array(ts, dtype=np.float64))
                last_data, max_lag = time.monotonic(), max(max_lag, pylsl.local_clock() - float(ts[-1]))
            if (now := time.monotonic()) > next_check:
                next_check = now + 1.0
                if (st := _status(client, decoder_id))["state"] == "error":
                    raise LiveEvaluationError(f"decoder {decoder_id} failed while decoding: {st['last_error']}")
                if saturated is None and (st.get("load") or {}).get("warning"):
                    saturated = st["load"]
            if replay.error is not None:
                raise LiveEvaluationError(f"the replay of {rec.source} failed: {replay.error!r}")
            if drain_until is None and (sum(map(len, tss)) >= rec.n_times or now > t_end
                                        or (not replay.is_alive() and now - last_data > 5.0)):
                drain_until = now + 0.5
        inlets.close()  # consumers go first (else liblsl logs a broken transmission): ours, the decoder's, the replay
        received, deadline = sum(map(len, tss)), time.monotonic() + 5.0
        cues = sum((markers.get("marker_map") or {}).get(value) is not None for value, _ in marks)
        while not _final(st := _status(client, decoder_id), received, cues) and time.monotonic() < deadline:
            time.sleep(0.05)  # the worker's counters and scoring arrive every status_interval
        if saturated is None and (st.get("load") or {}).get("warning"):
            saturated = st["load"]
        final, decoder_id = client.delete(f"/decoders/{decoder_id}").json(), None
        replay.join(timeout=10.0)
        return {"y": np.concatenate(ys) if ys else np.zeros((0, card.n_outputs)), "stream": replay.stream_name,
                "ts": np.concatenate(tss) if tss else np.zeros(0), "markers": marks, "received": received,
                "sent": -1 if replay.pushed is None else replay.pushed, "max_lag_s": max_lag, "saturated": saturated,
                "service": {k: final.get(k) for k in ("state", "counters", "latency_ms", "scoring")}}
    finally:  # on error too: consumers first, the replay last (its outlets go once it has no consumer left)
        inlets.close()
        if decoder_id is not None:
            with contextlib.suppress(Exception):  # the server goes down next; the first error is reported
                client.delete(f"/decoders/{decoder_id}")
        replay.abort()
        replay.join(timeout=10.0)


def saturation_note(load: Mapping[str, Any] | None, speed: float, sfreq: float, name: str) -> str | None:
    """What the service's "cannot keep up" warning (``load``: the status's ``load`` holding it) during a replay at
    ``speed`` times real time says of the decoder at the stream's real rate ``sfreq``: the work per sample it measured
    (``busy`` / ``input_rate_hz``, the worker's own busy share when larger) times ``sfreq`` is the busy share real
    time would give. None without a warning, or at 1x (the warning then stands as the service says it)."""
    if not load or not load.get("warning") or speed <= 1:
        return None
    busy = max((b for b in (load.get("busy"), load.get("worker_busy")) if b is not None), default=None)
    rate = load.get("input_rate_hz") or 0.0
    if busy is None or rate <= 0:
        return None
    real = busy / rate * sfreq  # the same work per sample at the stream's own rate
    verdict = ("so at 1x it keeps up: the warning is the replay's speed-up, not the model's; a lower --speed gives the "
               "worker room" if real < BUSY_WARN else
               "so it would not keep up at 1x either: use a smaller model or a faster host")
    return (f"{name}: the service's 'cannot keep up' warning came from the replay at {speed:g}x: it pulled "
            f"{rate:.0f} samples/s (the replay pushes {sfreq * speed:.0f}: {sfreq:g} Hz x {speed:g}) and was busy "
            f"{busy:.0%}, {1e3 * busy / rate:.3f} ms of work per sample; at {sfreq:g} Hz that is busy about "
            f"{real:.0%}, {verdict}")


def sample_index(ts: np.ndarray, markers: list[tuple[str, float]], rec: Any,
                  period: float) -> tuple[np.ndarray, str, float, float | None]:
    """Sample index of each decoded timestamp, the anchor used, the largest distance off the sample grid, ``t0``.

    The replay stamps sample ``k`` ``t0 + k * period`` and the cue at sample ``onset`` ``t0 + onset * period``:
    each cue marker gives ``t0``. Without markers, the first decoded sample is taken as sample 0.
    """
    events = [e for e in sorted(rec.events, key=lambda e: e.onset) if e.onset < rec.n_times]
    pairs = [(ev, t) for ev, (desc, t) in zip(events, markers) if ev.description == desc]
    if pairs and len(pairs) == min(len(events), len(markers)):
        t0, anchor = float(np.median([t - ev.onset * period for ev, t in pairs])), f"{len(pairs)} cue markers"
    elif len(ts):
        t0, anchor = float(ts[0]), "first decoded sample"
    else:
        return np.zeros(0, dtype=np.int64), "none", 0.0, None
    idx = np.rint(pos := (ts - t0) / period).astype(np.int64)
    return idx, anchor, float(np.abs(pos - idx).max()) if len(idx) else 0.0, t0


def place_on_grid(y: np.ndarray, idx: np.ndarray, n_times: int) -> tuple[np.ndarray, dict[str, int]]:
    """Outputs on the sample grid; a sample never received holds the last output before it (what a consumer
    of the stream sees). Missing samples, duplicates and stray indices are counted."""
    inside = (idx >= 0) & (idx < n_times)
    uniq, first = np.unique(idx[inside], return_index=True)
    grid = np.full((n_times, y.shape[1]), np.nan)
    grid[uniq] = y[inside][first]
    have = np.isin(np.arange(n_times), uniq)
    if have.any() and not have.all():
        fill = np.maximum.accumulate(np.where(have, np.arange(n_times), -1))
        fill[fill < 0] = np.flatnonzero(have)[0]
        grid = grid[fill]
    return grid, {"missing": int(n_times - len(uniq)), "duplicates": int(inside.sum() - len(uniq)),
                  "outside": int((~inside).sum())}
