"""How the inference benchmark times its variants, and the checks that they computed the same.

Single steps of every variant, interleaved in round-robin blocks whose order rotates (:func:`_time_steps`); chunks
of T samples through ``StepModel.run`` and torch pre+step (:func:`_time_chunks`); percentiles and rate of the
per-sample durations (:func:`_stats_us`); the largest difference of two final states (:func:`_max_diff`). Each step
is timed with ``time.perf_counter_ns`` after a warm-up, the garbage collector paused during timed blocks.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from latency_bench.inference_variants import _Variant


def _stats_us(ns: np.ndarray, per_call: int = 1) -> dict[str, float | int]:
    """Percentiles (µs) and rate of per-sample durations; ``ns`` per call, ``per_call`` samples per call."""
    per_sample = ns / per_call
    p50, p99, p999 = np.percentile(per_sample, [50.0, 99.0, 99.9]) / 1e3
    out: dict[str, float | int] = {
        "p50_us": float(p50),
        "p99_us": float(p99),
        "p99_9_us": float(p999),
        "samples_per_s": float(1e9 / per_sample.mean()),
        "n": int(ns.size),
    }
    if per_call > 1:
        c50, c99 = np.percentile(ns, [50.0, 99.0]) / 1e3
        out.update(streams_per_call=per_call, per_call_p50_us=float(c50), per_call_p99_us=float(c99))
    return out


def _time_steps(variants: list[_Variant], x: np.ndarray, n_warmup: int, block: int) -> dict[str, np.ndarray]:
    """Step every variant through ``x`` (warm-up rows first), interleaved in rotating round-robin blocks.

    Returns the per-call durations in ns of the timed rows (``x[n_warmup:]``), per variant.
    """
    rows = [x[t : t + 1] for t in range(len(x))]
    n_timed = len(rows) - n_warmup
    out = {v.name: np.empty(n_timed, dtype=np.int64) for v in variants}
    pc = time.perf_counter_ns
    # Warm-up: the same rows for every variant (states stay in lockstep), blocks interleaved too.
    for start in range(0, n_warmup, block):
        for v in variants:
            step = v.step
            for r in rows[start : min(start + block, n_warmup)]:
                step(r)
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for rnd, start in enumerate(range(n_warmup, len(rows), block)):
            stop = min(start + block, len(rows))
            k = rnd % len(variants)
            for v in variants[k:] + variants[:k]:
                step = v.step
                dst = out[v.name]
                i = start - n_warmup
                for r in rows[start:stop]:
                    t0 = pc()
                    step(r)
                    dst[i] = pc() - t0
                    i += 1
    finally:
        if gc_was_enabled:
            gc.enable()
    return out


def _time_chunks(step_model: Any, model: Any, preprocessor: Any, state_names: list[str], x: np.ndarray, t: int,
                 repeats: int) -> dict[str, Any]:
    """``StepModel.run`` and torch pre+step over consecutive chunks of ``t`` raw samples, carried state,
    interleaved."""
    import torch

    ours_state = step_model.new_state()
    torch_state = list(model.zero_state(1))
    chunks = [x[i * t : (i + 1) * t] for i in range(len(x) // t)]
    n_warm = len(chunks) - repeats

    def ours(c: np.ndarray) -> None:
        step_model.run(c, ours_state)

    def eager(c: np.ndarray) -> None:
        _, *new = model(torch.from_numpy(preprocessor.process(c))[None], *torch_state)
        torch_state[:] = new

    fns = {"ours": ours, "torch": eager}
    rates: dict[str, list[float]] = {"ours": [], "torch": []}
    pc = time.perf_counter_ns
    for c in chunks[:n_warm]:
        ours(c)
        eager(c)
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i, c in enumerate(chunks[n_warm:]):
            for name in ("ours", "torch") if i % 2 == 0 else ("torch", "ours"):
                t0 = pc()
                fns[name](c)
                rates[name].append(t * 1e9 / (pc() - t0))
    finally:
        if gc_was_enabled:
            gc.enable()
    arrays = ours_state.arrays
    diff = max(float(np.abs(arrays[n] - s.numpy()).max()) for n, s in zip(state_names, torch_state))
    return {
        "ours_samples_per_s": float(np.median(rates["ours"])),
        "torch_samples_per_s": float(np.median(rates["torch"])),
        "repeats": repeats,
        "state_max_abs_diff": diff,
    }


def _max_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray], names: Sequence[str]) -> float:
    return max(float(np.abs(np.asarray(a[n], dtype=np.float64) - np.asarray(b[n], dtype=np.float64)).max())
               for n in names)
