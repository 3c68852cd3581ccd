"""Many streams of one model: N separate ``StepModel.run`` calls against one ``SlotTable.step_ready`` call.

``python -m latency_bench slots [--profile quick|full]``. For each model (a random-weight 64ch/H128/L2 GRU at
1 kHz, exported with the real exporter; a CSP+LDA decoder with random parameters, 64 ch, 6 components, when
the classical exporter is installed), each chunk length (1 and 10 samples per stream per wake-up) and each
number of streams N (1, 4, 16, 64), one *wake-up* decodes one chunk of every stream, in two ways:

``separate``
    today's per-stream path: ``StepModel.run(x_i[T, C], state_i)`` for each of the N streams (for T = 1 the
    single-sample session with IOBindings).
``slots``
    :class:`bci_stream.engine.slots.SlotTable` ``.step_ready({slot_i: x_i})``: every stream in one
    onnxruntime call of the general step graph (states gathered and scattered on the slot axis).

Both variants start from fresh states and get the same samples (random EEG-like µV rows cycled from a
pool), so their outputs are compared (``max_abs_diff``, a check of the harness). They run interleaved in
blocks whose order alternates, each wake-up timed with ``perf_counter_ns``, the garbage collector paused.
Reported per cell: per *stream-sample* cost (wake-up time / (N × T)) p50 and p99 in µs, the wake-up's p50,
and ``speedup_p50`` = separate / slots. A benchmark, not a test: it never asserts speed.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = "bci-stream/bench-slots/1"
LEVELS: tuple[int, ...] = (1, 4, 16, 64)
CHUNKS: tuple[int, ...] = (1, 10)
GRU_SIZE = ("gru 64ch/H128/L2", 64, 128, 2)
CSP_SHAPE = ("csp_lda 64ch/6 components", 64, 6)
SFREQ = 1000.0
POOL = 4096
"""Rows of random samples the streams cycle through (each stream at its own offset)."""
PROFILES = {"quick": {"stream_samples": 6000, "min_wakes": 40, "max_wakes": 400, "warmup": 8, "block": 10},
            "full": {"stream_samples": 60000, "min_wakes": 200, "max_wakes": 4000, "warmup": 40, "block": 25}}


def _wakes(profile: dict[str, int], n: int, chunk: int) -> int:
    return int(np.clip(profile["stream_samples"] // (n * chunk), profile["min_wakes"], profile["max_wakes"]))


def _pool(n_chans: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (10 * rng.standard_normal((POOL, n_chans)) + rng.uniform(-200, 200, n_chans)).astype(np.float32)


def _variants(model: Any, n: int, chunk: int, pool: np.ndarray) -> dict[str, tuple[Callable[[int], Any], Any]]:
    """``name -> (wake(w) -> outputs in stream order, states)`` for the two ways of decoding wake-up ``w``."""
    from bci_stream.engine.slots import SlotTable

    span = POOL - chunk
    offsets = [(97 * i) % span for i in range(n)]
    states = [model.new_state() for _ in range(n)]
    run = model.run

    def separate(w: int) -> list[np.ndarray]:
        out = []
        for i in range(n):
            o = (offsets[i] + w * chunk) % span
            out.append(run(pool[o:o + chunk], states[i]))
        return out

    table = SlotTable(model, capacity=n)
    slots = [table.add(i) for i in range(n)]
    step_ready = table.step_ready

    def slotted(w: int) -> list[np.ndarray]:
        pending = {}
        for i, s in enumerate(slots):
            o = (offsets[i] + w * chunk) % span
            pending[s] = pool[o:o + chunk]
        got = step_ready(pending)
        return [got[s] for s in slots]

    return {"separate": (separate, states), "slots": (slotted, table)}


def bench_cell(model: Any, n: int, chunk: int, wakes: int, warmup: int, block: int, seed: int = 0) -> dict[str, Any]:
    """Time ``wakes`` wake-ups of both variants (interleaved); per stream-sample statistics and a parity check."""
    pool = _pool(model.n_chans, seed)
    variants = _variants(model, n, chunk, pool)
    names = list(variants)
    last: dict[str, list[np.ndarray]] = {}
    for w in range(warmup):
        for name in names:
            variants[name][0](w)
    times = {name: np.empty(wakes, dtype=np.int64) for name in names}
    pc = time.perf_counter_ns
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for rnd, start in enumerate(range(0, wakes, block)):
            order = names if rnd % 2 == 0 else names[::-1]
            for name in order:
                wake, dst = variants[name][0], times[name]
                for k in range(start, min(start + block, wakes)):
                    t0 = pc()
                    out = wake(warmup + k)
                    dst[k] = pc() - t0
                last[name] = out
    finally:
        if enabled:
            gc.enable()
    per = n * chunk
    cell: dict[str, Any] = {"n_streams": n, "chunk": chunk, "wakes": wakes}
    for name in names:
        ns = times[name]
        p50, p99 = np.percentile(ns / per, [50.0, 99.0]) / 1e3
        cell[name] = {"p50_us": float(p50), "p99_us": float(p99), "wake_p50_us": float(np.median(ns) / 1e3),
                      "stream_samples_per_s": float(per * 1e9 / ns.mean())}
    cell["speedup_p50"] = cell["separate"]["p50_us"] / cell["slots"]["p50_us"]
    cell["max_abs_diff"] = float(max(np.max(np.abs(a - b)) for a, b in zip(last["separate"], last["slots"])))
    return cell


def _gru(work: Path) -> Any:
    from bci_stream.core.registry import ModelRegistry
    from bci_stream.engine.step_model import StepModel
    from latency_bench.models import export_bench_gru

    _, c, h, layers = GRU_SIZE
    bench = export_bench_gru(work, c, h, layers, SFREQ, parity_samples=50)
    entry = ModelRegistry(work).get(bench.ref)
    return StepModel(entry.onnx_path, entry.card)


def _csp(work: Path, n_chans: int, width: int) -> Any:
    from bci_stream.core.card import ONNX_FILE
    from bci_stream.engine.step_model import StepModel
    from bci_stream.train.classical.export import export_csp_lda, synthetic_parity_input
    from latency_bench.inference import CLASSICAL_PARITY_SAMPLES, _classical_params

    params = _classical_params("csp_lda", n_chans, width, seed=0)
    name = f"bench-csp-lda-{n_chans}ch-w{width}"
    card = export_csp_lda(params, work / name, name=name, version="1.0.0",
                          training={"data": "random parameters, slots benchmark"},
                          parity_input=synthetic_parity_input(params, CLASSICAL_PARITY_SAMPLES))
    return StepModel(work / name / ONNX_FILE, card)


def run_slots_bench(quick: bool = True, out_dir: Path | None = None, echo: Callable[[str], Any] = print,
                    levels: Sequence[int] = LEVELS, chunks: Sequence[int] = CHUNKS, wakes: int | None = None,
                    models: dict[str, Any] | None = None, classical: bool = True) -> dict[str, Any]:
    """Measure every (model, chunk, N) cell; write ``slots.json`` and ``slots.md`` to ``out_dir`` if given.

    ``models`` (label -> StepModel) replaces the default models (a test passes tiny ones); ``wakes`` fixes
    the timed wake-ups per cell.
    """
    import onnxruntime

    profile = PROFILES["quick" if quick else "full"]
    result: dict[str, Any] = {
        "schema": SCHEMA, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "profile": "quick" if quick else "full", "levels": list(levels), "chunks": list(chunks),
        "versions": {"numpy": np.__version__, "onnxruntime": onnxruntime.__version__}, "rows": [], "notes": []}
    with tempfile.TemporaryDirectory(prefix="bench-slots-") as tmp:
        if models is None:
            models = {GRU_SIZE[0]: _gru(Path(tmp))}
            if classical:
                try:
                    models[CSP_SHAPE[0]] = _csp(Path(tmp), CSP_SHAPE[1], CSP_SHAPE[2])
                except ImportError as exc:
                    result["notes"].append(f"CSP+LDA not measured: the classical exporter cannot be imported ({exc})")
        for label, model in models.items():
            for chunk in chunks:
                for n in levels:
                    t0 = time.perf_counter()
                    n_wakes = wakes or _wakes(profile, n, chunk)
                    cell = bench_cell(model, n, chunk, n_wakes, min(profile["warmup"], n_wakes),
                                      min(profile["block"], n_wakes))
                    cell["model"] = label
                    result["rows"].append(cell)
                    echo(f"[{label} chunk {chunk} N {n}] separate {cell['separate']['p50_us']:.2f}/"
                         f"{cell['separate']['p99_us']:.2f} µs, slots {cell['slots']['p50_us']:.2f}/"
                         f"{cell['slots']['p99_us']:.2f} µs per stream-sample (p50/p99), "
                         f"x{cell['speedup_p50']:.2f} ({time.perf_counter() - t0:.1f} s)")
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "slots.json").write_text(json.dumps(result, indent=2))
        (out_dir / "slots.md").write_text(format_markdown(result))
    return result


def format_markdown(result: dict[str, Any]) -> str:
    """The side-by-side table: per stream-sample cost of N separate runs and of one slot-table call."""
    lines = [f"## Slots: N streams of one model per wake-up ({result['profile']} profile, {result['created']})", "",
             "Per stream-sample cost in µs (wake-up time / (N × chunk)), p50 / p99; `speed-up` = separate p50 / "
             "slots p50; `wake p50` = one wake-up of all N streams.", "",
             "| model | chunk | N | separate p50 | separate p99 | slots p50 | slots p99 | speed-up | "
             "wake p50 separate / slots (µs) | max abs diff |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        sep, slo = r["separate"], r["slots"]
        lines.append(f"| {r['model']} | {r['chunk']} | {r['n_streams']} | {sep['p50_us']:.2f} | {sep['p99_us']:.2f} | "
                     f"{slo['p50_us']:.2f} | {slo['p99_us']:.2f} | {r['speedup_p50']:.2f} | "
                     f"{sep['wake_p50_us']:.0f} / {slo['wake_p50_us']:.0f} | {r['max_abs_diff']:.1e} |")
    lines += ["", *[f"- {note}" for note in result["notes"]]]
    return "\n".join(lines).rstrip() + "\n"
