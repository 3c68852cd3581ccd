"""One recurrent row of the inference benchmark: one cell and size, exported, then every variant timed on it.

A random-weight ``CausalRNN`` (fixed seed) exported with the real exporter (the step graph, and the bare network
graph beside it), the seven variants stepped through the same raw samples from the same start state, their final
states checked against each other, and the chunked throughput (:data:`~latency_bench.inference_profiles.CHUNK_SIZES`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from latency_bench.inference_profiles import (BANDPASS, BATCH, CHUNK_SIZES, GRAPH_VARIANTS, OTHERS_POOL, OUTPUT_LABELS,
                                              PARITY_SAMPLES, SFREQ, VARIANTS, Size, _Profile)
from latency_bench.inference_timing import _max_diff, _stats_us, _time_chunks, _time_steps
from latency_bench.inference_variants import (_ort_iobinding, _ort_run, _ours, _ours_batched, _torch_eager,
                                              _torch_preprocess)


def _bench_one(cell: str, size: Size, profile: _Profile, seed: int, work_dir: Path,
               echo: Callable[[str], Any]) -> dict[str, Any]:
    import torch

    from bci_stream.engine.step_model import StepModel, make_session
    from bci_stream.train.export.onnx_export import _export_graph, export_model
    from bci_stream.core.card import ONNX_FILE
    from bci_stream.train.nets.rnn import CausalRNN
    from bci_stream.dsp.preprocess import PreprocessingConfig, Preprocessor

    name, n_chans, hidden, layers = size
    n_outputs = len(OUTPUT_LABELS)
    t_start = time.perf_counter()
    torch.manual_seed(seed)
    model = CausalRNN(n_chans, n_outputs, hidden_size=hidden, n_layers=layers, cell=cell).eval()
    preprocessing = PreprocessingConfig(bandpass=BANDPASS, car=True, mean=[0.0] * n_chans, std=[1.0] * n_chans)
    model_dir = work_dir / f"{cell}-{name.replace('/', '-')}"
    card = export_model(
        model, model_dir, name=f"bench-{cell}", version="1.0.0", ch_names=[f"E{i}" for i in range(n_chans)],
        sfreq=SFREQ, output_labels=OUTPUT_LABELS, preprocessing=preprocessing, parity_samples=PARITY_SAMPLES,
        training={"data": "random weights, latency benchmark"},
    )
    onnx_path = model_dir / ONNX_FILE
    net_path = model_dir / "net.onnx"
    _export_graph(model, net_path)  # the bare network: preprocessed x -> y
    t_export = time.perf_counter() - t_start

    spec = card.step
    graph_names = [(s.name, s.input, s.output) for s in spec.states]
    rec_names = [s.name for s in spec.states if s.role == "recurrent"]  # h0 (, c0): torch's zero_state order
    net_names = [(n, n, {"h0": "hn", "c0": "cn"}[n]) for n in rec_names]
    n_steps = profile.steps_for(n_chans, hidden)
    n_warmup = profile.warmup
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_warmup + n_steps, n_chans)).astype(np.float32)
    others = rng.standard_normal((min(len(x), OTHERS_POOL), BATCH - 1, n_chans)).astype(np.float32)

    step_model = StepModel(onnx_path, card)  # one session pair shared by its streams (states), as in the service
    step_model.warm_up()
    first = step_model.new_state()
    first.init_first(x[0])  # the state a stream starts from (the filter's steady state for x[0])
    init = {k: v.copy() for k, v in first.arrays.items()}
    consts = {"scale": first.scale}
    net_init = {n: np.zeros(init[n].shape, np.float32) for n in rec_names}
    one = {"B": 1, "T": 1}
    variants = [
        _ours(step_model),
        _ours_batched(step_model, others),
        _ort_run(make_session(onnx_path, one), graph_names, init, consts),
        _ort_iobinding("ort_iobinding", make_session(onnx_path, one), n_chans, n_outputs, graph_names, init, consts),
        _ort_iobinding("ort_net", make_session(net_path, one), n_chans, n_outputs, net_names, net_init),
        _torch_eager(model, rec_names),
        _torch_preprocess(model, Preprocessor(card.preprocessing, n_chans, card.sfreq), rec_names),
    ]
    assert [v.name for v in variants] == list(VARIANTS)
    echo(f"[{cell} {name}] exported in {t_export:.1f} s; timing {n_steps} steps x {len(variants)} variants "
         f"(warm-up {n_warmup}, blocks of {profile.block}; ours_batched: {BATCH} streams per call)")
    with torch.inference_mode():
        durations = _time_steps(variants, x, n_warmup, profile.block)
        # Sanity checks: every variant stepped the same inputs from the same start state.
        by_name = {v.name: v for v in variants}
        ref = by_name["ort_run"].final_state()
        check = {v: _max_diff(by_name[v].final_state(), ref, list(ref)) for v in GRAPH_VARIANTS if v != "ort_run"}
        check_torch = {"torch_preprocess": _max_diff(by_name["torch_preprocess"].final_state(), ref, rec_names)}
        check_net = {"torch_eager": _max_diff(by_name["torch_eager"].final_state(),
                                              by_name["ort_net"].final_state(), rec_names)}
        chunked = {}
        for t in CHUNK_SIZES:
            repeats = profile.repeats_for(n_chans, hidden, t)
            xc = rng.standard_normal(((repeats + 2) * t, n_chans)).astype(np.float32)
            chunked[str(t)] = _time_chunks(step_model, model, Preprocessor(card.preprocessing, n_chans, card.sfreq),
                                           rec_names, xc, t, repeats)
    stats = {v.name: _stats_us(durations[v.name], v.per_call) for v in variants}

    def p50(v: str) -> float:
        return float(stats[v]["p50_us"])

    ratios = {
        "torch_over_ours_p50": p50("torch_eager") / p50("ours"),
        "torch_preprocess_over_ours_p50": p50("torch_preprocess") / p50("ours"),
        "ours_over_batched_p50": p50("ours") / p50("ours_batched"),
        "run_over_iobinding_p50": p50("ort_run") / p50("ort_iobinding"),
        "ours_over_iobinding_p50": p50("ours") / p50("ort_iobinding"),
        "preprocess_share_p50": (p50("ort_iobinding") - p50("ort_net")) / p50("ort_iobinding"),
        "torch_over_ort_net_p50": p50("torch_eager") / p50("ort_net"),
        "ours_chunk256_over_step_throughput": chunked["256"]["ours_samples_per_s"] / stats["ours"]["samples_per_s"],
    }
    echo(f"[{cell} {name}] p50 µs: " + ", ".join(f"{v} {p50(v):.1f}" for v in VARIANTS)
         + f" | T=256 ours {chunked['256']['ours_samples_per_s']:.0f}/s ({time.perf_counter() - t_start:.1f} s)")
    return {
        "cell": cell,
        "size": name,
        "n_chans": n_chans,
        "hidden": hidden,
        "layers": layers,
        "max_block": spec.max_block,
        "variants": stats,
        "chunked": chunked,
        "ratios": {k: float(v) for k, v in ratios.items()},
        "check": {"state_max_abs_diff_vs_ort_run": check,
                  "torch_state_max_abs_diff_vs_ort_run": check_torch,
                  "net_state_max_abs_diff_vs_ort_net": check_net,
                  "export_parity_max_abs_diff": card.parity.max_abs_diff},
        "export_s": t_export,
    }
