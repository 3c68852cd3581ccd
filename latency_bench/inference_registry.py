"""Step graphs of any family in the inference benchmark: one graph's row, and a row per model of a registry.

:func:`bench_step_graph` times ``ours`` and ``ours_batched`` of one step graph on random raw samples (the classical
rows use it too); :func:`bench_registry` does it for every model of a registry (``--models-dir``), with a ``skipped``
or ``error`` row for a model it cannot run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from latency_bench.inference_profiles import BATCH, OTHERS_POOL, _Profile
from latency_bench.inference_timing import _stats_us, _time_steps
from latency_bench.inference_variants import _ours, _ours_batched


def _describe(card: Any) -> str:
    arch = card.architecture
    if getattr(arch, "family", "recurrent") == "recurrent" and arch.cell:
        return f"{arch.cell} {card.n_chans}ch/H{arch.hidden_size}/L{arch.n_layers}"
    return f"{card.step.family if card.step else arch.family} {card.n_chans}ch"


def _p50_p99(v: dict[str, Any]) -> str:
    """``ours`` and ``ours_batched`` p50/p99 of a step-graph row, for the progress line."""
    return (f"p50/p99 µs: ours {v['ours']['p50_us']:.1f}/{v['ours']['p99_us']:.1f}, "
            f"ours_batched {v['ours_batched']['p50_us']:.1f}/{v['ours_batched']['p99_us']:.1f}")


def bench_step_graph(step_model: Any, steps: int, warmup: int, block: int, seed: int = 0,
                     amplitude: float = 10.0) -> dict[str, Any]:
    """``ours`` and ``ours_batched`` per-sample cost of one step graph on random raw samples (``amplitude``
    times a standard normal, in the card's unit)."""
    rng = np.random.default_rng(seed)
    c = step_model.n_chans
    x = (amplitude * rng.standard_normal((warmup + steps, c))).astype(np.float32)
    others = (amplitude * rng.standard_normal((min(len(x), OTHERS_POOL), BATCH - 1, c))).astype(np.float32)
    step_model.warm_up()
    variants = [_ours(step_model), _ours_batched(step_model, others)]
    durations = _time_steps(variants, x, warmup, block)
    return {v.name: _stats_us(durations[v.name], v.per_call) for v in variants}


def bench_registry(models_dir: Path | str, profile: _Profile, seed: int,
                   echo: Callable[[str], Any]) -> dict[str, Any]:
    """A row per model of the registry at ``models_dir``: its step graph's ``ours`` / ``ours_batched`` cost.

    A model whose card has no step graph, or that fails to load or run, gets a row with ``skipped`` or
    ``error`` instead of numbers.
    """
    from bci_stream.engine.step_model import StepModel
    from bci_stream.core.registry import ModelRegistry, verify_files

    entries, problems = ModelRegistry(models_dir).scan()
    entries.sort(key=lambda e: (e.card.step.family if e.card.step else "", e.card.name, e.card.version))
    rows = []
    for e in entries:
        card = e.card
        row: dict[str, Any] = {"ref": card.ref, "family": card.step.family if card.step else card.architecture.family,
                               "describe": _describe(card), "n_chans": card.n_chans, "sfreq": card.sfreq,
                               "n_outputs": card.n_outputs, "directory": str(e.directory)}
        if card.step is None:
            row["skipped"] = f"card format {card.format_version} without a step graph"
            rows.append(row)
            continue
        row["states"] = [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype, "role": s.role}
                         for s in card.step.states]
        row["max_block"] = card.step.max_block
        n_steps = profile.steps_for(card.n_chans, 0)
        try:
            verify_files(e)
            t0 = time.perf_counter()
            row["variants"] = bench_step_graph(StepModel(e.onnx_path, card), n_steps, profile.warmup, profile.block,
                                               seed)
            echo(f"[registry {card.ref} ({row['describe']})] {_p50_p99(row['variants'])} "
                 f"({time.perf_counter() - t0:.1f} s)")
        except Exception as exc:  # noqa: BLE001 - a benchmark reports a model it cannot run and goes on
            row["error"] = f"{type(exc).__name__}: {exc}"
            echo(f"[registry {card.ref}] not measured: {row['error']}")
        rows.append(row)
    return {"models_dir": str(models_dir), "steps": profile.steps, "rows": rows, "problems": problems}
