"""Step cost over a channels × hidden-size grid (GRU, 2 layers, 1 kHz preprocessing), in this process.

Per grid point a random-weight model is exported with the real exporter, then two things step through
the same samples one at a time, interleaved in blocks: ``pipeline`` = ``DecodePipeline.run(x[1, C])``,
what the worker runs per sample (preprocessing + recurrent step), and ``step`` = ``Decoder.run`` on the
same samples (the recurrent step alone). p50/p99 in µs.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from latency_bench.models import export_bench_gru

LAYERS = 2
SFREQ = 1000.0


def _time(fns: dict[str, Callable[[np.ndarray], Any]], x: np.ndarray, warmup: int, block: int) -> dict[str, np.ndarray]:
    rows = [x[i : i + 1] for i in range(len(x))]
    for f in fns.values():
        for r in rows[:warmup]:
            f(r)
    out = {k: np.empty(len(rows) - warmup, dtype=np.int64) for k in fns}
    pc = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        names = list(fns)
        for rnd, start in enumerate(range(warmup, len(rows), block)):
            k = rnd % len(names)
            for name in names[k:] + names[:k]:
                f, dst = fns[name], out[name]
                for i in range(start, min(start + block, len(rows))):
                    t0 = pc()
                    f(rows[i])
                    dst[i - warmup] = pc() - t0
    finally:
        gc.enable()
    return out


def _stepper(decoder: Any, state: Any) -> Callable[[np.ndarray], Any]:
    return lambda x: decoder.run(x, state)


def run_grid(chans: Sequence[int], hiddens: Sequence[int], steps: int, echo: Callable[[str], Any] = print,
             seed: int = 0) -> dict[str, Any]:
    """Measure every (n_chans, hidden_size) point; returns the section."""
    from bci_stream.inference.decoder import Decoder
    from bci_stream.inference.registry import ModelRegistry
    from bci_stream.runtime.pipeline import DecodePipeline

    points = []
    warmup = max(20, steps // 10)
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="bci-bench-grid-") as tmp:
        for c in chans:
            for hdim in hiddens:
                echo(f"grid: {c} ch × H{hdim} (L{LAYERS}), {steps} steps")
                model = export_bench_gru(Path(tmp), c, hdim, LAYERS, SFREQ, seed=seed, parity_samples=20)
                entry = ModelRegistry(tmp).get(model.ref)
                pipe = DecodePipeline(entry)
                pipe.warm_up()
                dec = Decoder(entry.onnx_path, entry.card)
                state = dec.new_state()
                x = (10.0 * rng.standard_normal((warmup + steps, c))).astype(np.float32)
                ns = _time({"pipeline": pipe.run, "step": _stepper(dec, state)}, x, warmup, 100)
                row: dict[str, Any] = {"n_chans": c, "hidden_size": hdim, "n_layers": LAYERS,
                                       "fused": pipe.fused is not None}
                for k, v in ns.items():
                    p50, p99 = np.percentile(v, [50, 99]) / 1e3
                    row[k] = {"p50_us": float(p50), "p99_us": float(p99), "samples_per_s": float(1e9 / v.mean())}
                points.append(row)
    return {"cell": "gru", "n_layers": LAYERS, "sfreq": SFREQ, "steps": steps, "chans": list(chans),
            "hiddens": list(hiddens), "points": points,
            "what": "pipeline = DecodePipeline.run(x[1, C]) (what the worker runs per sample: preprocessing + "
                    "step); step = Decoder.run (recurrent step alone); 1 thread, gc paused while timing"}
