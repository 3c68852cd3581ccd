"""Step cost over a channels × hidden-size grid (GRU, 2 layers, 1 kHz preprocessing), in this process.

Per grid point a random-weight model is exported with the real exporter (a step graph: preprocessing +
network), then two things step through the same samples one at a time, interleaved in blocks:
``pipeline`` = :class:`~bci_stream.engine.step_model.StepModel` ``.run(x[1, C], state)``, what the worker
runs per sample (preprocessing + recurrent step in one call), and ``step`` = the bare network graph of the
same weights (``onnx_export._export_graph``: preprocessed ``x`` → ``y``) through raw onnxruntime
IOBindings with B = T = 1 fixed (the recurrent step alone). p50/p99 in µs.
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


def _stepper(model: Any, state: Any) -> Callable[[np.ndarray], Any]:
    return lambda x: model.run(x, state)


def _net_stepper(bench: Any, models_dir: Path) -> Callable[[np.ndarray], Any]:
    """The bare network of ``bench`` (its saved torch weights) as an onnxruntime IOBinding step."""
    import torch

    from bci_stream.engine.step_model import make_session
    from bci_stream.train.export.onnx_export import _export_graph
    from bci_stream.train.nets.rnn import CausalRNN
    from latency_bench.inference import iobinding_stepper

    net = CausalRNN(**bench.torch_config).eval()
    net.load_state_dict(torch.load(bench.state_dict, weights_only=True))
    path = models_dir / f"{bench.ref.replace('@', '-')}.net.onnx"
    _export_graph(net, path)
    names = [("h0", "h0", "hn")] + ([("c0", "c0", "cn")] if net.cell == "lstm" else [])
    init = {n: s.numpy() for (n, _, _), s in zip(names, net.zero_state(1))}
    step, _ = iobinding_stepper(make_session(path, {"B": 1, "T": 1}), net.n_chans, net.n_outputs, names, init)
    return step


def run_grid(chans: Sequence[int], hiddens: Sequence[int], steps: int, echo: Callable[[str], Any] = print,
             seed: int = 0) -> dict[str, Any]:
    """Measure every (n_chans, hidden_size) point; returns the section."""
    from bci_stream.engine.step_model import StepModel
    from bci_stream.core.registry import ModelRegistry

    points = []
    warmup = max(20, steps // 10)
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="bci-bench-grid-") as tmp:
        for c in chans:
            for hdim in hiddens:
                echo(f"grid: {c} ch × H{hdim} (L{LAYERS}), {steps} steps")
                bench = export_bench_gru(Path(tmp), c, hdim, LAYERS, SFREQ, seed=seed, parity_samples=20)
                entry = ModelRegistry(tmp).get(bench.ref)
                model = StepModel(entry.onnx_path, entry.card)
                model.warm_up()
                state = model.new_state()
                x = (10.0 * rng.standard_normal((warmup + steps, c))).astype(np.float32)
                ns = _time({"pipeline": _stepper(model, state), "step": _net_stepper(bench, Path(tmp))}, x, warmup,
                           100)
                row: dict[str, Any] = {"n_chans": c, "hidden_size": hdim, "n_layers": LAYERS,
                                       "max_block": entry.card.step.max_block}
                for k, v in ns.items():
                    p50, p99 = np.percentile(v, [50, 99]) / 1e3
                    row[k] = {"p50_us": float(p50), "p99_us": float(p99), "samples_per_s": float(1e9 / v.mean())}
                points.append(row)
    return {"cell": "gru", "n_layers": LAYERS, "sfreq": SFREQ, "steps": steps, "chans": list(chans),
            "hiddens": list(hiddens), "points": points,
            "what": "pipeline = StepModel.run(x[1, C], state) (what the worker runs per sample: the step graph, "
                    "preprocessing + step in one call); step = the bare network graph through onnxruntime "
                    "IOBindings (recurrent step alone); 1 thread, gc paused while timing"}
