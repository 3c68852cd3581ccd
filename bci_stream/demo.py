"""``bci-stream demo``: simulator → service → decoder with the bundled model, a status line a second."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import pylsl

from bci_stream.api.server import BackgroundServer, bind_problem, host_problem
from bci_stream.api.startup_log import open_api_problem
from bci_stream.core.card import ModelCard
from bci_stream.core.errors import BciStreamError, ModelNotFoundError
from bci_stream.core.model_dirs import is_shipped, shipped_models_dir
from bci_stream.core.registry import ModelRegistry
from bci_stream.core.settings import Settings
from bci_stream.service.supervisor import start_without_sigint
from bci_stream.sim.eeg import SyntheticEEG
from bci_stream.sim.montage import unplaced
from bci_stream.sim.player import run_simulator

DEFAULT_MODEL = "sim-mi-gru"
#: Seconds the demo waits for the decoder's first output before it gives up with an error.
START_TIMEOUT_S = 120.0


def _fmt_ms(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.2f}"


def _fmt_trials(scoring: dict | None) -> str:
    """The service's live trial score (cues scored at the decision time), e.g. `` | trials 7/8 at 2 s``."""
    if not scoring or not scoring.get("trials"):
        return ""
    return f" | trials {scoring['correct']}/{scoring['trials']} at {scoring['decision_time_s']:g} s"


def _fmt_load(st: dict) -> str:
    """End-to-end then in-service latency over the status's recent window (``load``; cumulative before the first
    one), the worker's busy fraction and the backlog left in the inlet; a stall's reason."""
    load = st.get("load")
    lat = load["latency_ms"] if load else st["latency_ms"]
    e2e, svc = lat.get("e2e", {}), lat.get("service", {})
    text = (f"end-to-end p50/p99 {_fmt_ms(e2e.get('p50'))}/{_fmt_ms(e2e.get('p99'))} ms, in-service "
            f"{_fmt_ms(svc.get('p50'))}/{_fmt_ms(svc.get('p99'))} ms")
    if load:
        busy = "  -" if load["busy"] is None else f"{100 * load['busy']:3.0f}"
        text = f"last {load['window_s']:4.1f} s: {text}, busy {busy} %, backlog {load['backlog_samples']}"
    if st.get("stall"):
        text += f" | stalled {st['stall']['seconds']:.1f} s: {st['stall']['reason']}"
    return text


class DurationStop:
    """When ``demo --duration`` ends: ``duration`` seconds of signal decoded, counted from the first decoded sample.

    The status's ``samples_out`` lags the worker by at most one status interval, so the demo stops once it reports
    ``round(duration * sfreq)`` samples, or (a decoder that falls behind or stalls) at ``deadline``: ``duration``
    after the first decoded sample, dated from the first status that showed samples (``seen`` of them at ``now``,
    decoded at the stream's pace). Either way the decoder is stopped about one status interval after the end.
    """

    def __init__(self, duration: float, sfreq: float, seen: int, now: float) -> None:
        self.target = max(1, round(duration * sfreq))
        self.deadline = now - seen / sfreq + duration

    def reached(self, samples_out: int, now: float) -> bool:
        """True once ``samples_out`` decoded samples make up the duration, or its deadline has passed."""
        return samples_out >= self.target or now >= self.deadline


class CueTracker:
    """Follows the simulator's marker stream to show which cue is on (ground truth beside the decoding)."""

    def __init__(self, name: str, trial_s: float = 4.0) -> None:
        found, deadline = [], time.monotonic() + 5.0
        while not found and time.monotonic() < deadline:  # in slices: a stop signal is taken within one (Python runs
            found = pylsl.resolve_bypred(f"name='{name}'", 1, 0.25)  # its handler between calls, not inside liblsl's)
        self.inlet = pylsl.StreamInlet(found[0]) if found else None
        self.trial_s = trial_s
        self.cue, self.until = "rest", 0.0
        self.offset = 0.0  # the simulator's clock offset (it runs on this host: 0 until liblsl measured it)

    def current(self) -> str:
        if self.inlet is not None:
            while True:
                sample, ts = self.inlet.pull_sample(timeout=0.0)
                if sample is None:
                    break
                self.cue, self.until = sample[0], ts + self.correction() + self.trial_s
        return self.cue if pylsl.local_clock() < self.until else "rest"

    def correction(self) -> float:
        """liblsl's clock offset of the marker stream; the last one when it cannot be measured within 1 s (a loaded
        machine: before, its TimeoutError ended the demo with a traceback, seen in CI's rehearsal)."""
        try:
            self.offset = self.inlet.time_correction(1.0)
        except pylsl.util.TimeoutError:
            pass
        return self.offset

    def close(self) -> None:
        """Close the inlet before the simulator's outlet goes (else liblsl logs a broken transmission)."""
        if self.inlet is not None:
            self.inlet.close_stream()
            self.inlet = None


class PipeStop:
    """A stop flag across processes that no death wedges: set once the other end of ``conn`` is closed (by the
    demo, or by its end). A multiprocessing Event's ``set()`` waits for each process asleep in its ``wait()`` to
    wake, forever for one killed there: the demo hung after a SIGTERM to its process group (``timeout``, systemd)
    had killed its simulator (audit s68bench F1)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def is_set(self) -> bool:
        return self.conn.poll(0)

    def wait(self, timeout: float) -> bool:
        return self.conn.poll(timeout)


def _simulate(stop: Connection, **kwargs: Any) -> None:
    """The demo's simulator (a process of its own): :func:`run_simulator` until the demo closes ``stop``'s other
    end. SIGINT is blocked in it from its start (:func:`start_without_sigint`) and SIGTERM ignored, so a signal to
    the whole process group (Ctrl-C, ``timeout``, systemd) leaves it to the demo, which stops the decoder first."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    run_simulator(stop_event=PipeStop(stop), **kwargs)


def installed_copy(model_ref: str, models_dir: Path) -> tuple[ModelCard, Path] | None:
    """The install's bundled copy of ``model_ref`` (its card and folder) when ``models_dir`` is another registry, or
    None (no bundled models, ``models_dir`` is them, or they lack it too)."""
    if (shipped := shipped_models_dir()) is None or is_shipped(models_dir):
        return None
    try:
        return ModelRegistry(shipped).get(model_ref).card, shipped
    except BciStreamError:
        return None


def run_demo(duration: float | None, settings: Settings, model_ref: str = DEFAULT_MODEL,
             echo: Callable[[str], None] = print) -> int:
    """Run the demo; returns the exit code (0 when samples were decoded)."""
    try:
        card = ModelRegistry(settings.models_dir).get(model_ref).card
    except ModelNotFoundError as exc:  # a ./models of one's own (calibrate's) without it: the installed copy
        if (copy := installed_copy(model_ref, settings.models_dir)) is None:
            echo(f"error: {exc}")
            return 2
        card, shipped = copy
        echo(f"note: model {model_ref!r} is not in {settings.models_dir}: the demo runs the copy this install "
             f"holds, in {shipped}")
        settings = settings.model_copy(update={"models_dir": shipped})
    except BciStreamError as exc:
        echo(f"error: {exc}")
        return 2
    try:  # the simulator streams the model's own channel names, whatever their spelling ('C3', 'C3..', 'EEG-C3')
        SyntheticEEG(n_chans=card.n_chans, sfreq=card.sfreq, ch_names=card.ch_names)
    except ValueError as exc:
        echo(f"error: the simulator cannot stream the input of model {card.ref}: {exc}")
        return 2
    if problem := host_problem(settings.host):
        echo(f"error: {problem}: run `bci-stream demo --host 127.0.0.1`")
        return 2
    if problem := open_api_problem(settings):
        echo(f"error: {problem}")
        return 2
    problem = bind_problem(settings.host, settings.port)
    if problem:
        echo(f"error: {problem}: run `bci-stream demo --port 0` (any free port), or `--port 9000`, "
             f"or `make demo PORT=9000`")
        return 2
    name = f"bci-stream-demo-{os.getpid()}"
    source_id = f"{name}-src"
    ctx = mp.get_context("spawn")
    stop_end, stop = ctx.Pipe(duplex=False)  # the simulator streams until `stop` is closed (by us, or by our end)
    sim = ctx.Process(
        target=_simulate, name="bci-stream-simulator", args=(stop_end,),
        kwargs=dict(name=name, n_chans=card.n_chans, sfreq=card.sfreq, source_id=source_id,
                    seed=int(time.time()) % 100_000, ch_names=list(card.ch_names)),
        daemon=True,
    )
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    samples_out = 0
    start_without_sigint(sim)  # Ctrl-C stops the demo, which stops the simulator last, in order
    stop_end.close()  # the simulator's copy is its own
    try:
        with BackgroundServer(settings) as server, httpx.Client(base_url=server.url, headers=headers,
                                                                timeout=10.0) as client:
            echo(f"bci-stream demo: API on {server.url}, simulated EEG '{name}' "
                 f"({card.n_chans} ch, {card.sfreq:g} Hz), model {card.ref} ({', '.join(card.output.labels)})")
            off = unplaced(card.ch_names)
            if off:
                echo(f"note: {len(off)} of the model's channels are not 10-10 names the simulator can place "
                     f"({', '.join(off[:6])}{' ...' if len(off) > 6 else ''}): they carry background EEG only")
            r = client.post("/decoders", json={"stream": {"name": name, "source_id": source_id}, "model": model_ref})
            if r.status_code != 201:
                echo(f"error: POST /decoders answered {r.status_code}: {r.text}")
                return 1
            decoder_id = r.json()["id"]
            echo(f"decoder {decoder_id} started; decoded stream '{name}-decoded'; dashboard {server.url}/ . "
                 "Ctrl-C to stop.")
            cues: CueTracker | None = None
            t0 = time.monotonic()
            stop_at: DurationStop | None = None  # --duration counts from the first decoded sample, not the POST
            tick = 1
            try:
                cues = CueTracker(f"{name}-markers")  # (up to 5 s: a stop signal then is handled as in the loop)
                while True:
                    due = t0 + tick  # the next status line; the end of --duration may come first
                    time.sleep(max(0.0, min(due, stop_at.deadline if stop_at else due) - time.monotonic()))
                    st = client.get(f"/decoders/{decoder_id}").json()
                    c = st["counters"]
                    samples_out = c.get("samples_out", 0)
                    if time.monotonic() >= due:  # one line a second: ticks missed (the marker stream's resolve,
                        tick = int(time.monotonic() - t0) + 1  # up to 5 s) are skipped, not all printed at once
                        p = max(st["last_output"]) if st.get("last_output") else 0.0
                        echo(f"[{time.monotonic() - t0:5.1f} s] {st['state']:<10} in {c.get('samples_in', 0):>7} "
                             f"out {samples_out:>7} lost {c.get('samples_lost', 0):>3} | {_fmt_load(st)} | decoded "
                             f"{(st.get('last_label') or '-'):<10} p={p:.2f} | cue {cues.current()}"
                             f"{_fmt_trials(st.get('scoring'))}")
                    if st["state"] == "error":
                        echo(f"error: {st['last_error']}")
                        return 1
                    if samples_out > 0 and stop_at is None and duration is not None:
                        stop_at = DurationStop(duration, card.sfreq, samples_out, time.monotonic())
                    if stop_at is not None and stop_at.reached(samples_out, time.monotonic()):
                        break
                    if samples_out == 0 and time.monotonic() - t0 > START_TIMEOUT_S:
                        why = st.get("last_error") or (st.get("stall") or {}).get("reason") or "no error reported"
                        echo(f"error: no decoded sample within {START_TIMEOUT_S:g} s of starting the decoder "
                             f"(state {st['state']}): {why}")
                        return 1
            except KeyboardInterrupt:
                echo("interrupted")
                server.signalled()  # sent to the process group, it may have ended the worker: no restart
            finally:
                if cues is not None:
                    cues.close()
            final = client.delete(f"/decoders/{decoder_id}").json()
            samples_out = final["counters"].get("samples_out", samples_out)
            echo(f"stopped: {final['counters'].get('samples_in', 0)} samples in, {samples_out} decoded samples out")
    finally:
        stop.close()
        sim.join(5.0)
        if sim.is_alive():
            sim.terminate()
    return 0 if samples_out > 0 else 1
