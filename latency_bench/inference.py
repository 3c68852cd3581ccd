"""Per-sample inference cost: bci-stream's step-graph engine against raw onnxruntime and torch eager.

For each recurrent cell (GRU, LSTM) and model size, a random-weight :class:`~bci_stream.train.nets.rnn.CausalRNN`
(fixed seed) is exported with the real exporter: one *step graph* (card format 2) holding the causal
preprocessing (8-30 Hz band-pass with carried state, CAR, standardisation) and the network, raw samples in.
The bare network graph (preprocessed ``x`` → ``y``, ``onnx_export._export_graph``) is written beside it.
Then seven variants step through the *same* raw input sequence, one sample at a time, state carried:

``ours``
    :class:`bci_stream.engine.step_model.StepModel` ``.run(x[1, C], state)``: preprocessing + recurrent
    step in one call, what the worker runs per sample (a B = T = 1 session with IOBindings over the
    state's ping-pong buffers).
``ours_batched``
    ``StepModel.step(x[B, 1, C], states)`` over B = :data:`BATCH` streams per call (stream 0 gets the
    shared row, the others their own random samples); the engine gathers and scatters the states.
    Reported **per stream-sample**: the time of one call divided by B.
``ort_run``
    raw onnxruntime ``session.run()`` with a feed dict on the same step graph (1-thread session built by
    :func:`bci_stream.engine.step_model.make_session` with B = T = 1 fixed, as ``ours``'s).
``ort_iobinding``
    raw onnxruntime IOBinding on that session over preallocated OrtValues, two prebuilt bindings
    alternated for the states (ping-pong), ``session.run_with_iobinding``. The floor for the step graph
    from Python: ``ours / ort_iobinding`` is the engine's own overhead.
``ort_net``
    the same IOBinding loop on the bare network graph, fed the samples as network input: the recurrent
    step alone (``ort_iobinding - ort_net`` is roughly what the preprocessing inside the graph costs).
``torch_eager``
    the torch module itself, 1 thread, ``torch.inference_mode()``, one step with carried state: torch's
    step alone, no preprocessing.
``torch_preprocess``
    numpy ``Preprocessor.process(x[1, C])`` (float64 state-space filter step, CAR/standardisation), then
    the torch eager step: torch's pre+step.

Every variant receives the same numpy row view ``x[1, C]`` (float32) and does its own adaptation
(reshape, copy into a bound buffer, ``torch.from_numpy``) inside the timed region. The variants are
interleaved in round-robin blocks whose order rotates every round, so machine drift hits all of them
equally; each step is timed with ``time.perf_counter_ns`` after a warm-up, with the garbage collector
paused during timed blocks. Reported per variant: p50, p99, p99.9 (µs) and samples/s (1/mean).

Checks of the harness: the step-graph variants' final states (filter and recurrent) against ``ort_run``'s
(the same graph), torch pre+step's recurrent state against ``ort_run``'s, torch eager's against ``ort_net``'s.

Chunked throughput follows: ``StepModel.run`` on chunks of T = 16 and T = 256 samples (the engine runs
blocks of at most ``max_block``), and torch's pre+step on the same chunks, interleaved, median
samples/s over the repeats.

Other families: CSP+LDA, Riemannian (tangent space + LR) and the two combined (``csp_riemann``) decoders with
random parameters, exported
with their real exporter (``bci_stream.train.classical.export``, parity checked; shapes
:data:`CLASSICAL_SHAPES`), get a row each: ``ours`` and ``ours_batched`` per-sample cost on random raw
samples. With ``models_dir`` (``python -m latency_bench inference --models-dir DIR``, by default the
service's registry; the suite uses that registry too) every step graph in that registry, whatever its
family, gets such a row as well.

This is a benchmark, not a test: it measures and reports (including whether the issue's target is met)
and never asserts speed. Numbers from a shared, noisy machine are only comparable within one run.

The parts: :mod:`~latency_bench.inference_profiles` (sizes, variants, profiles),
:mod:`~latency_bench.inference_variants` (the variants), :mod:`~latency_bench.inference_timing` (timing and checks),
:mod:`~latency_bench.inference_rnn` (one recurrent cell and size), :mod:`~latency_bench.inference_registry` (a
registry's step graphs), :mod:`~latency_bench.inference_classical` (the classical rows) and
:mod:`~latency_bench.inference_report` (the report files). This module runs the whole benchmark
(:func:`run_inference_bench`) and judges the target; every name of the parts stays importable from here.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from latency_bench.inference_classical import (CLASSICAL_PARITY_SAMPLES, CLASSICAL_SHAPES, _classical_params,
                                               bench_classical)
from latency_bench.inference_profiles import (BANDPASS, BATCH, CELLS, CHUNK_SIZES, DEFAULT_SIZES, FULL, QUICK, SFREQ,
                                              VARIANT_DESCRIPTIONS, VARIANTS, Size, _custom_profile)
from latency_bench.inference_registry import bench_registry
from latency_bench.inference_report import format_markdown, write_report
from latency_bench.inference_rnn import _bench_one
from latency_bench.inference_variants import iobinding_stepper

__all__ = [
    "run_inference_bench", "SCHEMA", "TARGET_CELL", "TARGET_SIZE", "TARGET_P50_US", "TARGET_SPEEDUP", "Size",
    "DEFAULT_SIZES", "CELLS", "VARIANTS", "VARIANT_DESCRIPTIONS", "BATCH", "CHUNK_SIZES", "SFREQ", "BANDPASS",
    "QUICK", "FULL", "CLASSICAL_SHAPES", "CLASSICAL_PARITY_SAMPLES", "_classical_params", "bench_classical",
    "bench_registry", "iobinding_stepper", "format_markdown", "write_report"
]

SCHEMA = "bci-stream/bench-inference/2"

TARGET_CELL = "gru"
TARGET_SIZE = "64ch/H128/L2"
TARGET_P50_US = 25.0
TARGET_SPEEDUP = 3.0


def _machine() -> dict[str, Any]:
    import onnxruntime
    import scipy
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
    }
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    if hasattr(os, "getloadavg"):
        info["loadavg_start"] = [round(v, 2) for v in os.getloadavg()]
    return info


def _target(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's target for 64ch/H128/L2 GRU, as measured values and a boolean (never asserted).

    "Preprocessing + step" is ``ours`` (``StepModel.run``, what the service runs per sample); the speed-up
    is taken against torch eager's step alone (the stricter reading: torch without preprocessing); the
    ratio against torch's own pre+step (``torch_preprocess``), the batched engine and the bare network
    step are reported beside it.
    """
    target: dict[str, Any] = {
        "cell": TARGET_CELL,
        "size": TARGET_SIZE,
        "criterion": (f"preprocessing + step (ours: StepModel.run, T=1) p50 <= {TARGET_P50_US:g} us and >= "
                      f"{TARGET_SPEEDUP:g}x faster than torch eager (its step alone)"),
        "p50_limit_us": TARGET_P50_US,
        "min_speedup_vs_torch": TARGET_SPEEDUP,
    }
    match = [r for r in results if r["cell"] == TARGET_CELL and r["size"] == TARGET_SIZE]
    if not match:
        return {**target, "measured": None, "p50_ok": None, "speedup_ok": None, "met": None,
                "note": f"{TARGET_CELL} {TARGET_SIZE} was not measured in this run"}
    v = match[0]["variants"]
    ours_p50, torch_p50 = v["ours"]["p50_us"], v["torch_eager"]["p50_us"]
    speedup = torch_p50 / ours_p50
    p50_ok = bool(ours_p50 <= TARGET_P50_US)
    speedup_ok = bool(speedup >= TARGET_SPEEDUP)
    return {
        **target,
        "measured": {"ours_p50_us": ours_p50, "ours_batched_p50_us": v["ours_batched"]["p50_us"],
                     "ort_iobinding_p50_us": v["ort_iobinding"]["p50_us"], "ort_net_p50_us": v["ort_net"]["p50_us"],
                     "torch_eager_p50_us": torch_p50, "torch_preprocess_p50_us": v["torch_preprocess"]["p50_us"],
                     "speedup_vs_torch": speedup,
                     "speedup_vs_torch_preprocess": v["torch_preprocess"]["p50_us"] / ours_p50},
        "p50_ok": p50_ok,
        "speedup_ok": speedup_ok,
        "met": p50_ok and speedup_ok,
    }


def run_inference_bench(
    quick: bool = True,
    out_dir: Path | str | None = None,
    sizes: Sequence[Size] | None = None,
    echo: Callable[[str], Any] = print,
    *,
    steps: int | None = None,
    chunk_repeats: int | None = None,
    cells: Sequence[str] = CELLS,
    seed: int = 0,
    models_dir: Path | str | None = None,
    classical: bool = True,
    classical_shapes: Sequence[tuple[str, int, int]] | None = None,
) -> dict[str, Any]:
    """Measure per-step and chunked inference cost of every (cell, size); optionally write a report.

    Parameters
    ----------
    quick
        The quick profile (about 2000 timed steps per variant per size, 1000 for 256-wide sizes; well
        under 2 minutes on 2 cores) instead of the full one (20000 / 10000).
    out_dir
        If given, write ``inference.json``, ``inference.md`` and ``inference.png`` there.
    sizes
        ``(name, n_chans, hidden_size, n_layers)`` tuples; default :data:`DEFAULT_SIZES`.
    echo
        Called with one progress line per stage.
    steps
        Override the timed steps per variant for every size (e.g. 50 for a test); warm-up, block
        size and chunk repeats shrink with it.
    chunk_repeats
        Override the repeats of the chunked-throughput measurement (per chunk size).
    cells
        Recurrent cells to measure (``"gru"``, ``"lstm"``).
    seed
        Seed of the model weights and of the input samples.
    models_dir
        A model registry: each step graph in it (any family) also gets a per-sample row (``models``).
    classical
        Also measure the classical families (CSP+LDA, Riemannian) from random parameters exported with
        their real exporter (``families``; :data:`CLASSICAL_SHAPES`).
    classical_shapes
        The classical rows' ``(family, n_chans, width)``; default :data:`CLASSICAL_SHAPES`.

    Returns
    -------
    dict
        JSON-serialisable result with ``schema`` :data:`SCHEMA`: ``created``, ``machine``, ``profile``,
        ``results`` (one per cell and size: ``variants`` with ``p50_us``, ``p99_us``, ``p99_9_us``,
        ``samples_per_s``, ``n``; ``chunked``; ``ratios``; ``check``), ``families`` (the classical
        families' rows, or None), ``models`` (the registry's rows, or None) and ``target``.
    """
    import torch

    sizes = list(DEFAULT_SIZES if sizes is None else sizes)
    for cell in cells:
        if cell not in CELLS:
            raise ValueError(f"cells must be among {CELLS}, got {cell!r}")
    profile = _custom_profile(QUICK if quick else FULL, steps, chunk_repeats)
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    machine = _machine()
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    results = []
    registry = families = None
    try:
        with tempfile.TemporaryDirectory(prefix="bci-bench-inference-") as tmp:
            for cell in cells:
                for size in sizes:
                    results.append(_bench_one(cell, tuple(size), profile, seed, Path(tmp), echo))
            if classical:
                families = bench_classical(profile, seed, Path(tmp), echo,
                                           CLASSICAL_SHAPES if classical_shapes is None else tuple(classical_shapes))
        if models_dir is not None:
            registry = bench_registry(models_dir, profile, seed, echo)
    finally:
        torch.set_num_threads(threads_before)
    if hasattr(os, "getloadavg"):
        machine["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    result = {
        "schema": SCHEMA,
        "created": created,
        "machine": machine,
        "profile": {
            "name": profile.name,
            "steps": profile.steps,
            "steps_large": profile.steps_large,
            "warmup": profile.warmup,
            "block": profile.block,
            "chunk_sizes": list(CHUNK_SIZES),
            "chunk_repeats": {str(k): v for k, v in profile.chunk_repeats.items()},
            "chunk_repeats_large": {str(k): v for k, v in profile.chunk_repeats_large.items()},
            "sizes": [list(s) for s in sizes],
            "cells": list(cells),
            "seed": seed,
            "batch_streams": BATCH,
            "models_dir": None if models_dir is None else str(models_dir),
            "variants": dict(VARIANT_DESCRIPTIONS),
            "interleaving": "round-robin blocks of `block` steps, variant order rotated every round",
            "timer": "time.perf_counter_ns per call (per stream-sample: / streams per call); gc paused during "
                     "timed blocks",
            "threads": {"onnxruntime_intra_op": 1, "torch": 1},
            "preprocessing": {"bandpass": list(BANDPASS), "car": True, "standardise": "mean 0, std 1",
                              "sfreq": SFREQ},
            "wall_s": round(time.perf_counter() - t0, 1),
        },
        "results": results,
        "families": families,
        "models": registry,
        "target": _target(results),
    }
    if out_dir is not None:
        write_report(result, Path(out_dir))
    return result
