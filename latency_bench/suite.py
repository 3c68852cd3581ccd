"""The whole benchmark: profiles, sections, goals, one JSON result.

Sections (``what``): ``inference`` (per-step compute, :mod:`latency_bench.inference`), ``e2e`` (end to
end at 1 kHz × 64 ch with the 64ch/H128/L2 GRU and at 160 Hz with the real-EEG model, beside the relay
floor and the peers; catch-up of a backlog), ``scale`` (1…16 concurrent streams), ``grid`` (channels ×
hidden step cost), ``lookahead`` (the trainer's table), ``soak`` (N minutes, RSS and latency over time).
``all`` = every section but ``soak``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from latency_bench import GRU_SFREQ, machine
from latency_bench.interrupt import reraise_if_stopped

SCHEMA = "bci-stream/bench/1"
WHATS = ("e2e", "inference", "scale", "soak", "grid", "all")
ALL_SECTIONS = ("inference", "e2e", "catchup", "scale", "grid", "lookahead")
SECTIONS_OF = {"e2e": ("e2e", "catchup"), "inference": ("inference",), "scale": ("scale",), "grid": ("grid",),
               "soak": ("soak",), "all": ALL_SECTIONS}

GOAL_P50_OVER_RELAY = 1.3
GOAL_P99_OVER_RELAY = 1.5
GOAL_PEER_FACTOR = 5.0
GOAL_CATCHUP = 100_000.0


@dataclass(frozen=True)
class Profile:
    """How long and how much each section measures."""

    name: str
    seconds: float
    """Measured seconds per e2e phase."""
    warmup: float
    rounds: int
    paths_1k: tuple[str, ...]
    paths_160: tuple[str, ...]
    backlog_s: float
    scale_levels: tuple[int, ...]
    scale_seconds: float
    scale_relay: bool
    """Also scale bare relays (the transport floor of the same load)."""
    grid_chans: tuple[int, ...]
    grid_hiddens: tuple[int, ...]
    grid_steps: int
    inference_full: bool
    inference_steps: int | None
    inference_sizes: tuple[tuple[str, int, int, int], ...] | None
    inference_cells: tuple[str, ...]
    inference_classical_shapes: tuple[tuple[str, int, int], ...] | None = None
    """The classical rows of the inference section (``(family, n_chans, width)``); None: every shape of
    :data:`latency_bench.inference_classical.CLASSICAL_SHAPES`."""


PEERS = ("service", "relay", "direct", "timeflux", "mnelsl")
QUICK = Profile(
    name="quick", seconds=4.0, warmup=1.0, rounds=1, paths_1k=PEERS,
    paths_160=("service", "relay", "timeflux", "mnelsl"), backlog_s=10.0, scale_levels=(1, 2, 4), scale_seconds=4.0,
    scale_relay=False, grid_chans=(8, 64, 256), grid_hiddens=(64, 128), grid_steps=1000, inference_full=False,
    inference_steps=1000, inference_sizes=(("64ch/H128/L2", 64, 128, 2),), inference_cells=("gru",),
)
FULL = Profile(
    name="full", seconds=20.0, warmup=2.0, rounds=3, paths_1k=(*PEERS, "service_noprov"),
    paths_160=("service", "relay", "direct", "timeflux", "mnelsl"), backlog_s=10.0, scale_levels=(1, 2, 4, 8, 16),
    scale_seconds=20.0, scale_relay=True, grid_chans=(8, 16, 32, 64, 128, 256), grid_hiddens=(32, 64, 128, 256, 512),
    grid_steps=5000,
    inference_full=True, inference_steps=None, inference_sizes=None, inference_cells=("gru", "lstm"),
)
PROFILES = {"quick": QUICK, "full": FULL}


def make_profile(name: str, *, seconds: float | None = None, rounds: int | None = None,
                 scale_levels: Sequence[int] | None = None, backlog_s: float | None = None,
                 grid_steps: int | None = None, inference_steps: int | None = None,
                 paths: Sequence[str] | None = None) -> Profile:
    """A named profile with overrides (e.g. a tiny duration for a test)."""
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {name!r}")
    p = PROFILES[name]
    changes: dict[str, Any] = {}
    if seconds is not None:
        if seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        changes.update(seconds=seconds, scale_seconds=seconds, warmup=min(p.warmup, max(0.5, seconds)))
    for key, count in (("rounds", rounds), ("grid_steps", grid_steps), ("inference_steps", inference_steps)):
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise ValueError(f"{key} must be an integer >= 1, got {count!r}")
    if rounds is not None:
        changes["rounds"] = rounds
    if scale_levels is not None:
        changes["scale_levels"] = tuple(int(n) for n in scale_levels)
    if backlog_s is not None:
        changes["backlog_s"] = backlog_s
    if grid_steps is not None:
        changes["grid_steps"] = grid_steps
    if inference_steps is not None:
        changes["inference_steps"] = inference_steps
    if paths is not None:
        changes["paths_1k"] = tuple(paths)
        changes["paths_160"] = tuple(paths)
    return replace(p, name=p.name if not changes else f"{p.name}+custom", **changes)


def run_bench(what: str, profile: Profile, out_dir: Path, *, echo: Callable[[str], Any] = print,
              minutes: float | None = None, timeflux_python: str | None = None,
              lookahead_report: Path | None = None, argv: Sequence[str] | None = None,
              keep_work: bool = False) -> dict[str, Any]:
    """Run the sections of ``what``, write ``bench.json``/``bench.md``/plots into ``out_dir``; return the result."""
    if what not in WHATS:
        raise ValueError(f"what must be one of {', '.join(WHATS)}, got {what!r}")
    sections = SECTIONS_OF[what]
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    result: dict[str, Any] = {
        "schema": SCHEMA, "what": what, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(argv) if argv is not None else " ".join(sys.argv), "profile": asdict(profile),
        "machine": machine.machine_info(), "versions": machine.versions(), "sections": {}, "section_wall_s": {},
        "notes": [],
    }
    work = Path(tempfile.mkdtemp(prefix="bci-bench-"))
    try:
        if "inference" in sections:
            with _timed(result, "inference"):
                result["sections"]["inference"] = _inference(profile, out_dir, echo)
        needs_procs = any(s in sections for s in ("e2e", "catchup", "scale", "soak"))
        if needs_procs:
            _with_processes(result, sections, profile, work, echo, minutes, timeflux_python)
        if "grid" in sections:
            from latency_bench.grid import run_grid

            with _timed(result, "grid"):
                result["sections"]["grid"] = run_grid(profile.grid_chans, profile.grid_hiddens, profile.grid_steps,
                                                      echo)
        if "lookahead" in sections:
            from latency_bench.lookahead import lookahead_section
            from latency_bench.models import find_real_eeg_model

            with _timed(result, "lookahead"):
                result["sections"]["lookahead"] = lookahead_section(lookahead_report,
                                                                    find_real_eeg_model() / "model.json")
    finally:
        if keep_work:
            result["notes"].append(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    result["machine"]["loadavg_end"] = machine.loadavg()
    result["wall_s"] = round(time.monotonic() - t0, 1)
    result["goals"] = goals(result)
    from latency_bench.report import write_report

    write_report(result, out_dir)
    return result


@contextmanager
def _timed(result: dict[str, Any], section: str) -> Iterator[None]:
    """Time a section; if it fails, record ``{"error": ...}`` as its result and go on with the next one."""
    t0 = time.monotonic()
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - a benchmark reports a failed section and measures the others
        reraise_if_stopped()
        result["sections"][section] = {"error": f"{type(exc).__name__}: {exc}",
                                       "traceback": traceback.format_exc(limit=6)}
    finally:
        result["section_wall_s"][section] = round(time.monotonic() - t0, 1)


def _inference(profile: Profile, out_dir: Path, echo: Callable[[str], Any]) -> dict[str, Any]:
    from bci_stream.core.settings import default_models_dir
    from latency_bench.inference import run_inference_bench
    from latency_bench.inference import write_report as write_inference

    # Beside the random-weight networks: every step graph of the service's registry (any family) gets a row.
    res = run_inference_bench(quick=not profile.inference_full, out_dir=None,
                              sizes=list(profile.inference_sizes) if profile.inference_sizes else None,
                              echo=echo, steps=profile.inference_steps, cells=list(profile.inference_cells),
                              models_dir=default_models_dir(), classical_shapes=profile.inference_classical_shapes)
    write_inference(res, out_dir)
    return res


def _with_processes(result: dict[str, Any], sections: Sequence[str], profile: Profile, work: Path,
                    echo: Callable[[str], Any], minutes: float | None, timeflux_python: str | None) -> None:
    from latency_bench.e2e import Harness, compute_catchup, run_catchup, run_rate
    from latency_bench.models import export_bench_gru, real_eeg_model, real_eeg_samples

    h = Harness(work, echo=echo, timeflux_python=timeflux_python)
    try:
        if "e2e" in sections and "timeflux" in (*profile.paths_1k, *profile.paths_160):
            from latency_bench.peers import ensure_timeflux

            h.peer_status["timeflux"] = ensure_timeflux(timeflux_python, echo)  # sets it up when missing
        result["peers"] = {k: v.as_dict() for k, v in h.peer_status.items()}
        echo("exporting the 64ch/H128/L2 GRU (1 kHz) and copying the real-EEG model")
        gru = export_bench_gru(h.models_dir, 64, 128, 2, GRU_SFREQ)
        real = real_eeg_model(h.models_dir)
        real_data, real_desc = real_eeg_samples(real, work / "real_eeg.npy")
        echo(f"{real.sfreq:g} Hz phase data: {real_desc}")
        if "e2e" in sections:
            with _timed(result, "e2e"):
                result["sections"]["e2e"] = {
                    "1kHz": run_rate(h, "1 kHz × 64 ch, GRU 64ch/H128/L2", gru, None, "Gaussian noise, 10 µV",
                                     profile.paths_1k, profile.seconds, profile.warmup, profile.rounds),
                    "160Hz": run_rate(h, f"{real.sfreq:g} Hz × {real.n_chans} ch, {real.ref}", real, real_data,
                                      real_desc, profile.paths_160, profile.seconds, profile.warmup, profile.rounds),
                }
        if "catchup" in sections:
            echo(f"catch-up: {profile.backlog_s:g} s backlog at 1 kHz × 64 ch")
            with _timed(result, "catchup"):
                result["sections"]["catchup"] = {
                    "model": gru.ref, "backlog_s": profile.backlog_s,
                    "service": run_catchup(h, "service", gru, profile.backlog_s),
                    "relay": run_catchup(h, "relay", gru, profile.backlog_s),
                    "compute": compute_catchup(gru, h.models_dir, profile.backlog_s),
                }
        if "scale" in sections:
            from latency_bench.scale import run_scale

            with _timed(result, "scale"):
                result["sections"]["scale"] = run_scale(h, gru, profile.scale_levels, profile.scale_seconds,
                                                        profile.warmup)
            if profile.scale_relay:
                with _timed(result, "scale_relay"):
                    result["sections"]["scale_relay"] = run_scale(h, gru, profile.scale_levels, profile.scale_seconds,
                                                                  profile.warmup, kind="relay")
        if "soak" in sections:
            from latency_bench.soak import run_soak

            with _timed(result, "soak"):
                result["sections"]["soak"] = run_soak(h, [("1kHz", gru, None), ("160Hz", real, real_data)],
                                                      minutes or 1.0, echo)
    finally:
        h.close()


# --------------------------------------------------------------------------------------------------
# Goals of the issue, as measured values and booleans (never asserted)


def goals(result: dict[str, Any]) -> dict[str, Any]:
    s = {k: v for k, v in result.get("sections", {}).items() if "error" not in v}
    out: dict[str, Any] = {}
    e2e = (s.get("e2e") or {}).get("1kHz")
    if e2e:
        r = e2e["ratios"]
        for q, limit in (("p50", GOAL_P50_OVER_RELAY), ("p99", GOAL_P99_OVER_RELAY)):
            v = r.get(f"service_over_relay_{q}")
            out[f"e2e_{q}_over_relay"] = {"criterion": f"service e2e {q} <= {limit:g}x the relay floor (1 kHz)",
                                          "measured": v, "limit": limit, "met": None if v is None else v <= limit}
        for peer in ("timeflux", "mnelsl"):
            v = r.get(f"{peer}_over_service_p50")
            out[f"p50_vs_{peer}"] = {"criterion": f"service p50 >= {GOAL_PEER_FACTOR:g}x lower than {peer} (1 kHz)",
                                     "measured": v, "limit": GOAL_PEER_FACTOR,
                                     "met": None if v is None else v >= GOAL_PEER_FACTOR}
    cu = s.get("catchup")
    if cu:
        v = (cu.get("service") or {}).get("samples_per_s")
        out["catchup"] = {"criterion": f"catch-up >= {GOAL_CATCHUP:,.0f} samples/s (64ch/H128/L2 GRU, end to end)",
                          "measured": v, "limit": GOAL_CATCHUP, "met": None if v is None else v >= GOAL_CATCHUP,
                          "compute_bound": (cu.get("compute") or {}).get("samples_per_s"),
                          "relay_floor": (cu.get("relay") or {}).get("samples_per_s")}
    if s.get("scale"):
        g = s["scale"]["goal"]
        out["scale"] = {"criterion": g["criterion"], "measured": g["max_streams_ok"], "limit": 16, "met": g["met"],
                        "max_measured": g["max_measured"]}
    inf = s.get("inference")
    if inf and inf.get("target"):
        t = inf["target"]
        out["inference"] = {"criterion": t.get("criterion"), "measured": t.get("measured"), "met": t.get("met")}
    soak = s.get("soak")
    if soak:
        g = soak["goal"]
        out["soak"] = {"criterion": g["criterion"], "measured": {"max_rss_growth": g["max_rss_growth"],
                                                                 "max_p99_drift": g["max_p99_drift"]},
                       "met": g["met"]}
    return out
