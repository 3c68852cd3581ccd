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
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = "bci-stream/bench-inference/2"

Size = tuple[str, int, int, int]
"""``(name, n_chans, hidden_size, n_layers)``."""

DEFAULT_SIZES: tuple[Size, ...] = (
    ("8ch/H64/L1", 8, 64, 1),
    ("64ch/H128/L2", 64, 128, 2),
    ("256ch/H256/L2", 256, 256, 2),
)
CELLS: tuple[str, ...] = ("gru", "lstm")
VARIANTS: tuple[str, ...] = ("ours", "ours_batched", "ort_run", "ort_iobinding", "ort_net", "torch_eager",
                             "torch_preprocess")
GRAPH_VARIANTS: tuple[str, ...] = ("ours", "ours_batched", "ort_run", "ort_iobinding")
"""Variants that run the step graph (raw samples in, preprocessing inside): checked against ``ort_run``."""
PRE_VARIANTS: tuple[str, ...] = (*GRAPH_VARIANTS, "torch_preprocess")
"""Variants that take raw samples and preprocess them (the others take the same samples as network input)."""
VARIANT_DESCRIPTIONS: dict[str, str] = {
    "ours": "StepModel.run(x[1, C], state): preprocessing + step in one call (what the worker runs)",
    "ours_batched": "StepModel.step over 8 streams per call, per stream-sample (call time / 8)",
    "ort_run": "onnxruntime session.run() with a feed dict, same step graph",
    "ort_iobinding": "onnxruntime IOBinding on the step graph, preallocated OrtValues, ping-pong state bindings",
    "ort_net": "onnxruntime IOBinding on the bare network graph: the recurrent step alone",
    "torch_eager": "torch eager CausalRNN step alone, 1 thread, inference_mode",
    "torch_preprocess": "numpy Preprocessor.process + torch eager step (torch pre+step)",
}
BATCH = 8
"""Streams per ``StepModel.step`` call in ``ours_batched``."""
CHUNK_SIZES: tuple[int, ...] = (16, 256)
OUTPUT_LABELS = ["rest", "left_hand", "right_hand", "feet"]
SFREQ = 1000.0
BANDPASS = (8.0, 30.0)
PARITY_SAMPLES = 200
OTHERS_POOL = 1024
"""Rows of random samples the other streams of ``ours_batched`` cycle through."""

CLASSICAL_SHAPES: tuple[tuple[str, int, int], ...] = (
    ("csp_lda", 21, 6),
    ("csp_lda", 64, 6),
    ("riemann", 21, 16),
    ("riemann", 64, 16),
    ("csp_riemann", 64, 16),
    ("ensemble", 64, 16),
)
"""``(family, n_chans, width)`` of the classical rows: CSP components, or the Riemannian decoder's projected
dimension (the calibration defaults; 21 = the 10-10 sensorimotor rows, 64 = a full cap). ``csp_riemann``, the
combined decoder as calibrate's defaults build it: CSP+LDA (8 components, 8-30 Hz) on all channels and the
tangent space (``width`` dims, its own 5-35 Hz filter) on the first 21. ``ensemble``, the averaged decoder as
calibrate's defaults build it: 16 members, CSP+LDA (4 components) and tangent space (``width`` dims) each on the
first 21 and on all channels, each at two bands and two time constants."""
COMBINED_CSP_COMPONENTS = 8
COMBINED_TS_CHANS = 21
ENSEMBLE_CSP_COMPONENTS = 4
CLASSICAL_SFREQ = 160.0
CLASSICAL_LABELS = ["left_hand", "right_hand"]
CLASSICAL_PARITY_SAMPLES = 500

TARGET_CELL = "gru"
TARGET_SIZE = "64ch/H128/L2"
TARGET_P50_US = 25.0
TARGET_SPEEDUP = 3.0


@dataclass(frozen=True)
class _Profile:
    """How much to measure. ``*_large`` apply to sizes with 256 or more channels or hidden units."""

    name: str
    steps: int
    steps_large: int
    warmup: int
    block: int
    chunk_repeats: dict[int, int]
    chunk_repeats_large: dict[int, int]

    def steps_for(self, n_chans: int, hidden: int) -> int:
        return self.steps_large if max(n_chans, hidden) >= 256 else self.steps

    def repeats_for(self, n_chans: int, hidden: int, t: int) -> int:
        table = self.chunk_repeats_large if max(n_chans, hidden) >= 256 else self.chunk_repeats
        return table[t]


QUICK = _Profile("quick", steps=2000, steps_large=1000, warmup=200, block=100,
                 chunk_repeats={16: 100, 256: 15}, chunk_repeats_large={16: 50, 256: 8})
FULL = _Profile("full", steps=20000, steps_large=10000, warmup=2000, block=250,
                chunk_repeats={16: 1000, 256: 100}, chunk_repeats_large={16: 300, 256: 40})


def _custom_profile(base: _Profile, steps: int | None, chunk_repeats: int | None) -> _Profile:
    """``base`` with the step count and/or chunk repeats overridden (e.g. a tiny test profile)."""
    if steps is None and chunk_repeats is None:
        return base
    n = steps if steps is not None else base.steps
    n_large = steps if steps is not None else base.steps_large
    if chunk_repeats is None:
        reps = {t: max(3, min(r, n // 10)) for t, r in base.chunk_repeats.items()}
        reps_large = {t: max(3, min(r, n_large // 10)) for t, r in base.chunk_repeats_large.items()}
    else:
        reps = reps_large = {t: chunk_repeats for t in CHUNK_SIZES}
    return _Profile(
        name="custom",
        steps=n,
        steps_large=n_large,
        warmup=min(base.warmup, max(10, n // 2)),
        block=min(base.block, n),
        chunk_repeats=reps,
        chunk_repeats_large=reps_large,
    )


# --------------------------------------------------------------------------------------------------
# Variants


@dataclass
class _Variant:
    """One way of doing a single step: ``step(x[1, C])`` returns the output; ``final_state()`` the state.

    ``per_call`` is the number of stream-samples one call decodes (its time is divided by it).
    """

    name: str
    step: Callable[[np.ndarray], Any]
    final_state: Callable[[], dict[str, np.ndarray]] | None
    per_call: int = 1


def _ours(model: Any) -> _Variant:
    state = model.new_state()
    run = model.run
    return _Variant("ours", lambda x: run(x, state), lambda: dict(state.arrays))


def _ours_batched(model: Any, others: np.ndarray) -> _Variant:
    """``StepModel.step`` over ``1 + others.shape[1]`` streams: stream 0 gets the shared row, stream k the
    rows ``others[:, k - 1]`` in turn (cycled)."""
    n_streams = others.shape[1] + 1
    states = [model.new_state() for _ in range(n_streams)]
    buf = np.zeros((n_streams, 1, model.n_chans), dtype=np.float32)
    head, rest = buf[0], buf[1:, 0]
    step = model.step
    pool = len(others)
    i = [0]

    def run(x: np.ndarray) -> np.ndarray:
        np.copyto(head, x)
        np.copyto(rest, others[i[0] % pool])
        i[0] += 1
        return step(buf, states)

    return _Variant("ours_batched", run, lambda: dict(states[0].arrays), per_call=n_streams)


def _ort_run(session: Any, names: list[tuple[str, str, str]], init: dict[str, np.ndarray],
             consts: dict[str, np.ndarray]) -> _Variant:
    """``session.run`` with a feed dict; ``names`` = ``(state, graph input, graph output)``."""
    state = {n: init[n].copy() for n, _, _ in names}
    output_names = ["y", *(o for _, _, o in names)]
    run = session.run

    def step(x: np.ndarray) -> np.ndarray:
        feed = {"x": x[None], **consts}
        for n, i, _ in names:
            feed[i] = state[n]
        y, *new = run(output_names, feed)
        for (n, _, _), v in zip(names, new):
            state[n] = v
        return y

    return _Variant("ort_run", step, lambda: dict(state))


def iobinding_stepper(session: Any, n_chans: int, n_outputs: int, names: list[tuple[str, str, str]],
                      init: dict[str, np.ndarray], consts: dict[str, np.ndarray] | None = None,
                      ) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[], dict[str, np.ndarray]]]:
    """Raw onnxruntime IOBinding on a B = T = 1 graph: ``(step(x[1, C]) -> y, final_state())``.

    ``x`` is copied into a bound buffer; ``y`` is the bound output buffer (not a copy). ``names`` are
    ``(state, graph input, graph output)``; each state lives in two buffers and two prebuilt bindings
    alternate (ping-pong: binding A reads buffer 0 and writes buffer 1, binding B the reverse).
    ``consts`` are inputs bound once (e.g. the step graph's ``scale``).
    """
    import onnxruntime as ort

    x_buf = np.zeros((1, 1, n_chans), dtype=np.float32)
    y_buf = np.zeros((1, 1, n_outputs), dtype=np.float32)
    keep = [ort.OrtValue.ortvalue_from_numpy(a) for a in (x_buf, y_buf)]
    const_vals = {k: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(v)) for k, v in (consts or {}).items()}
    bufs = {n: (np.array(init[n], copy=True), np.array(init[n], copy=True)) for n, _, _ in names}
    vals = {n: [ort.OrtValue.ortvalue_from_numpy(b) for b in pair] for n, pair in bufs.items()}
    bindings = []
    for src in (0, 1):
        binding = session.io_binding()
        binding.bind_ortvalue_input("x", keep[0])
        binding.bind_ortvalue_output("y", keep[1])
        for k, v in const_vals.items():
            binding.bind_ortvalue_input(k, v)
        for n, n_in, n_out in names:
            binding.bind_ortvalue_input(n_in, vals[n][src])
            binding.bind_ortvalue_output(n_out, vals[n][1 - src])
        bindings.append(binding)
    binding_a, binding_b = bindings
    run = session.run_with_iobinding
    x_row = x_buf[0]
    cur = [0]  # which state buffer holds the current state

    def step(x: np.ndarray) -> np.ndarray:
        np.copyto(x_row, x)
        if cur[0]:
            run(binding_b)
            cur[0] = 0
        else:
            run(binding_a)
            cur[0] = 1
        return y_buf

    step.keep_alive = (keep, const_vals, vals, bindings)  # type: ignore[attr-defined]
    return step, lambda: {n: pair[cur[0]] for n, pair in bufs.items()}


def _ort_iobinding(name: str, *args: Any, **kwargs: Any) -> _Variant:
    step, final = iobinding_stepper(*args, **kwargs)
    return _Variant(name, step, final)


def _torch_eager(model: Any, state_names: list[str]) -> _Variant:
    import torch

    state = list(model.zero_state(1))
    from_numpy = torch.from_numpy

    def step(x: np.ndarray) -> np.ndarray:
        y, *new = model(from_numpy(x)[None], *state)
        state[:] = new
        return y.numpy()

    return _Variant("torch_eager", step, lambda: {n: s.numpy() for n, s in zip(state_names, state)})


def _torch_preprocess(model: Any, preprocessor: Any, state_names: list[str]) -> _Variant:
    import torch

    state = list(model.zero_state(1))
    from_numpy, process = torch.from_numpy, preprocessor.process

    def step(x: np.ndarray) -> np.ndarray:
        y, *new = model(from_numpy(process(x))[None], *state)
        state[:] = new
        return y.numpy()

    return _Variant("torch_preprocess", step, lambda: {n: s.numpy() for n, s in zip(state_names, state)})


# --------------------------------------------------------------------------------------------------
# Timing


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
                step, dst = v.step, out[v.name]
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


# --------------------------------------------------------------------------------------------------
# One (cell, size)


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


# --------------------------------------------------------------------------------------------------
# Step graphs of a model registry (any family)


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


def _classical_params(family: str, n_chans: int, width: int, seed: int) -> Any:
    """Random but valid parameters of a classical decoder (8-30 Hz band-pass, no CAR, 2 classes)."""
    from bci_stream.dsp.preprocess import PreprocessingConfig
    from bci_stream.train.classical.params import CspLdaParams, RiemannParams

    rng = np.random.default_rng(seed)
    common = dict(ch_names=[f"E{i + 1}" for i in range(n_chans)], sfreq=CLASSICAL_SFREQ,
                  preprocessing=PreprocessingConfig(bandpass=BANDPASS, car=False), tau_s=1.0,
                  labels=list(CLASSICAL_LABELS))
    k = len(CLASSICAL_LABELS)
    if family == "csp_lda":
        filters = rng.standard_normal((n_chans, width)) / np.sqrt(n_chans)
        return CspLdaParams(filters=filters, power_init=rng.uniform(5.0, 50.0, width),
                            coef=0.5 * rng.standard_normal((k, width)), intercept=0.1 * rng.standard_normal(k),
                            **common)
    if family == "riemann":
        proj = np.linalg.qr(rng.standard_normal((n_chans, width)))[0] if n_chans > width else None
        n = width if proj is not None else n_chans
        a = rng.standard_normal((n, 2 * n))
        cov = 10.0 * (a @ a.T / (2 * n) + 0.5 * np.eye(n))
        w, v = np.linalg.eigh(cov)
        ref_isqrt = (v / np.sqrt(w)) @ v.T  # the reference point: cov_init itself
        n_feat = n * (n + 1) // 2
        return RiemannParams(projection=proj, shrinkage=0.05, cov_init=cov, ref_isqrt=(ref_isqrt + ref_isqrt.T) / 2,
                             coef=0.2 * rng.standard_normal((k, n_feat)), intercept=0.1 * rng.standard_normal(k),
                             **common)
    if family == "csp_riemann":
        from bci_stream.train.classical.combined import CombinedParams

        csp = _classical_params("csp_lda", n_chans, COMBINED_CSP_COMPONENTS, seed)
        ts = _classical_params("riemann", min(COMBINED_TS_CHANS, n_chans), width, seed + 1)
        ts.preprocessing = PreprocessingConfig(bandpass=(5.0, 35.0), car=False)
        return CombinedParams(csp=csp, riemann=ts, ch_names=list(csp.ch_names))
    if family == "ensemble":
        from bci_stream.train.classical.ensemble import EnsembleParams

        members = []
        for j in range(8):
            for fam, w in (("csp_lda", ENSEMBLE_CSP_COMPONENTS), ("riemann", width)):
                m = _classical_params(fam, COMBINED_TS_CHANS if j < 4 else n_chans, w, seed + 2 * j + len(members))
                m.preprocessing = PreprocessingConfig(bandpass=BANDPASS if j % 2 == 0 else (5.0, 35.0), car=False)
                m.tau_s = 0.5 if (j // 2) % 2 == 0 else 1.0
                members.append(m)
        return EnsembleParams(members=members, ch_names=[f"E{i + 1}" for i in range(n_chans)])
    raise ValueError(f"family must be 'csp_lda', 'riemann', 'csp_riemann' or 'ensemble', got {family!r}")


def _describe_shape(family: str, n_chans: int, width: int) -> str:
    """What a classical row measures, in words."""
    if family == "csp_lda":
        return f"{family} {n_chans}ch, {width} CSP components"
    if family == "csp_riemann":
        return (f"{family} {n_chans}ch ({COMBINED_CSP_COMPONENTS} CSP components) + {min(COMBINED_TS_CHANS, n_chans)}"
                f"ch → {width} dims (own 5-35 Hz filter)")
    if family == "ensemble":
        return (f"{family} of 16: 8 CSP+LDA ({ENSEMBLE_CSP_COMPONENTS} components) and 8 tangent space ({width} "
                f"dims), half on {COMBINED_TS_CHANS}ch, half on {n_chans}ch")
    return f"{family} {n_chans}ch" + (f" → {width} dims" if n_chans > width else "")


def bench_classical(profile: _Profile, seed: int, work_dir: Path, echo: Callable[[str], Any],
                    shapes: Sequence[tuple[str, int, int]] = CLASSICAL_SHAPES) -> dict[str, Any]:
    """A row per classical shape: random parameters exported with ``bci_stream.train.classical.export``
    (the real exporter, parity checked), then ``ours`` / ``ours_batched`` per-sample cost of the step graph.

    Without the classical exporter (not installed, or an older bci-stream) the section says why.
    """
    try:
        from bci_stream.train.classical.export import export_csp_lda, export_riemann, synthetic_parity_input
    except ImportError as exc:
        return {"available": False, "reason": f"bci_stream.train.classical.export cannot be imported: {exc}",
                "rows": []}
    from bci_stream.engine.step_model import StepModel
    from bci_stream.core.card import ONNX_FILE

    rows = []
    for i, (family, n_chans, width) in enumerate(shapes):
        name = f"bench-{family.replace('_', '-')}-{n_chans}ch-w{width}"
        row: dict[str, Any] = {"ref": f"{name}@1.0.0", "family": family, "n_chans": n_chans,
                               "sfreq": CLASSICAL_SFREQ, "n_outputs": len(CLASSICAL_LABELS),
                               "describe": _describe_shape(family, n_chans, width)}
        try:
            t0 = time.perf_counter()
            params = _classical_params(family, n_chans, width, seed + i)
            export = export_csp_lda if family == "csp_lda" else export_riemann
            if family == "csp_riemann":
                from bci_stream.train.classical.combined_graph import combined_parity_input, export_csp_riemann

                export, parity = export_csp_riemann, combined_parity_input(params, CLASSICAL_PARITY_SAMPLES, seed)
            elif family == "ensemble":
                from bci_stream.train.classical.ensemble_graph import ensemble_parity_input, export_ensemble

                export, parity = export_ensemble, ensemble_parity_input(params, CLASSICAL_PARITY_SAMPLES, seed)
            else:
                parity = synthetic_parity_input(params, CLASSICAL_PARITY_SAMPLES, seed=seed)
            card = export(params, work_dir / name, name=name, version="1.0.0",
                          training={"data": f"random parameters (seed {seed + i}), latency benchmark"},
                          parity_input=parity)
            t_export = time.perf_counter() - t0
            row["states"] = [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype, "role": s.role}
                             for s in card.step.states]
            row["max_block"] = card.step.max_block
            row["export_parity_max_abs_diff"] = card.parity.max_abs_diff
            row["export_s"] = round(t_export, 2)
            row["variants"] = bench_step_graph(StepModel(work_dir / name / ONNX_FILE, card),
                                               profile.steps_for(n_chans, 0), profile.warmup, profile.block, seed)
            echo(f"[{row['describe']}] exported in {t_export:.1f} s; {_p50_p99(row['variants'])} "
                 f"({time.perf_counter() - t0:.1f} s)")
        except Exception as exc:  # noqa: BLE001 - a benchmark reports a family it cannot run and goes on
            row["error"] = f"{type(exc).__name__}: {exc}"
            echo(f"[{row['describe']}] not measured: {row['error']}")
        rows.append(row)
    return {"available": True, "source": "random parameters, exported with bci_stream.train.classical.export",
            "sfreq": CLASSICAL_SFREQ, "labels": list(CLASSICAL_LABELS), "rows": rows}


# --------------------------------------------------------------------------------------------------
# The whole benchmark


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
    p50_ok, speedup_ok = bool(ours_p50 <= TARGET_P50_US), bool(speedup >= TARGET_SPEEDUP)
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
                families = bench_classical(profile, seed, Path(tmp), echo)
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


# --------------------------------------------------------------------------------------------------
# Reports


def _fmt(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def _rows_markdown(rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"Random raw samples (10 × N(0, 1) in the card's unit); `ours_batched` = {BATCH} streams per "
             "`StepModel.step` call, per stream-sample.", "",
             "| family | model | what | channels | sfreq | states | ours p50 / p99 | ours_batched p50 / p99 |",
             "|---|---|---|---:|---:|---|---:|---:|"]
    for r in rows:
        states = ", ".join(f"{s['name']} {'×'.join(str(d) for d in s['shape'])}" for s in r.get("states", []))
        v = r.get("variants")
        if v:
            cells = [f"{_fmt(v[k]['p50_us'])} / {_fmt(v[k]['p99_us'])}" for k in ("ours", "ours_batched")]
        else:
            cells = [f"not measured: {r.get('error') or r.get('skipped')}", "–"]
        lines.append(f"| {r['family']} | `{r['ref']}` | {r['describe']} | {r['n_chans']} | {r['sfreq']:g} | "
                     f"{states or '–'} | " + " | ".join(cells) + " |")
    return lines


def families_markdown(families: dict[str, Any] | None) -> list[str]:
    """The classical families' rows (random parameters through their exporter)."""
    if not families:
        return []
    lines = ["## Classical step graphs (CSP+LDA, Riemannian, the two combined), T = 1, µs per sample", ""]
    if not families.get("available"):
        return lines + [f"Not run: {families.get('reason')}."]
    lines += [f"{families['source']}; {families['sfreq']:g} Hz, 8-30 Hz band-pass, {len(families['labels'])} "
              "classes.", ""]
    return lines + _rows_markdown(families.get("rows") or [])


def registry_markdown(models: dict[str, Any] | None) -> list[str]:
    """The registry's rows (one per step graph): family, model, ours / ours_batched p50 / p99 µs."""
    if not models:
        return []
    lines = [f"## Step graphs of the registry `{models['models_dir']}`, T = 1, µs per sample", ""]
    rows = models.get("rows") or []
    lines += _rows_markdown(rows) if rows else ["No model in this registry."]
    for p in models.get("problems") or []:
        lines.append(f"- not read: {p}")
    return lines


def format_markdown(result: dict[str, Any]) -> str:
    """A markdown report: per cell, p50/p99 per variant, chunked throughput and ratios; the registry's
    step graphs; the target."""
    m, prof = result["machine"], result["profile"]
    lines = [
        "# Inference latency (per-sample compute)",
        "",
        f"{result['created']} · {m['platform']} · {m['cpu_count']} CPUs · python {m['python']} · "
        f"onnxruntime {m['onnxruntime']} · torch {m['torch']} · numpy {m['numpy']}",
        f"profile `{prof['name']}`: {prof['steps']} timed steps per variant ({prof['steps_large']} for 256-wide "
        f"sizes), warm-up {prof['warmup']}, interleaved in blocks of {prof['block']}; 1 thread everywhere; "
        f"{prof['wall_s']} s. Load average {m.get('loadavg_start')} → {m.get('loadavg_end')}. Shared machine: "
        "compare numbers within this run only.",
        "",
        "Variants: " + "; ".join(f"`{k}` = {v}" for k, v in VARIANT_DESCRIPTIONS.items()) + ". "
        "Raw samples in (8-30 Hz band-pass, CAR, standardisation, then the network) for `ours`, `ours_batched`, "
        "`ort_run`, `ort_iobinding` and `torch_preprocess`; `ort_net` and `torch_eager` take the same samples as "
        "network input (step alone).",
    ]
    for cell in dict.fromkeys(r["cell"] for r in result["results"]):
        rows = [r for r in result["results"] if r["cell"] == cell]
        lines += ["", f"## {cell.upper()}: per-step latency, T = 1, p50 / p99 µs per sample", ""]
        lines.append("| size | " + " | ".join(VARIANTS) + " |")
        lines.append("|---|" + "---:|" * len(VARIANTS))
        for r in rows:
            cells = [f"{_fmt(r['variants'][v]['p50_us'])} / {_fmt(r['variants'][v]['p99_us'])}" for v in VARIANTS]
            lines.append(f"| {r['size']} | " + " | ".join(cells) + " |")
        lines += ["", f"{cell.upper()} p99.9 µs: " + "; ".join(
            f"{r['size']}: " + ", ".join(f"{v} {_fmt(r['variants'][v]['p99_9_us'], 0)}" for v in VARIANTS)
            for r in rows)]
        lines += ["", f"{cell.upper()} `ours_batched` per call of {BATCH} streams, p50 / p99 µs: " + "; ".join(
            f"{r['size']}: {_fmt(r['variants']['ours_batched'].get('per_call_p50_us'))} / "
            f"{_fmt(r['variants']['ours_batched'].get('per_call_p99_us'))}" for r in rows) + "."]
        lines += ["", f"## {cell.upper()}: throughput, samples/s (T = 1: 1/mean; chunks: median)", "",
                  "Chunks: `StepModel.run` on T raw samples (blocks of at most `max_block`) and torch pre+step "
                  "(numpy preprocessing, then torch) on the same chunks.", ""]
        header = ["ours T=1", "ours_batched T=1 (per stream)", "torch_preprocess T=1"]
        for t in CHUNK_SIZES:
            header += [f"ours T={t}", f"torch pre+step T={t}"]
        lines.append("| size | " + " | ".join(header) + " |")
        lines.append("|---|" + "---:|" * len(header))
        for r in rows:
            vs = r["variants"]
            vals = [vs["ours"]["samples_per_s"], vs["ours_batched"]["samples_per_s"],
                    vs["torch_preprocess"]["samples_per_s"]]
            for t in CHUNK_SIZES:
                c = r["chunked"][str(t)]
                vals += [c["ours_samples_per_s"], c["torch_samples_per_s"]]
            lines.append(f"| {r['size']} | " + " | ".join(_fmt(v, 0) for v in vals) + " |")
        lines += ["", f"## {cell.upper()}: ratios (a p50 ratio > 1: the denominator is faster)", ""]
        ratio_cols = [("torch_over_ours_p50", "torch_eager / ours"),
                      ("torch_preprocess_over_ours_p50", "torch_preprocess / ours"),
                      ("ours_over_batched_p50", "ours / ours_batched"),
                      ("ours_over_iobinding_p50", "ours / ort_iobinding"),
                      ("run_over_iobinding_p50", "ort_run / ort_iobinding"),
                      ("preprocess_share_p50", "preprocessing share of ort_iobinding (vs ort_net)"),
                      ("torch_over_ort_net_p50", "torch_eager / ort_net"),
                      ("ours_chunk256_over_step_throughput", "ours T=256 / T=1 throughput")]
        lines.append("| size | " + " | ".join(label for _, label in ratio_cols) + " |")
        lines.append("|---|" + "---:|" * len(ratio_cols))
        for r in rows:
            lines.append(f"| {r['size']} | " + " | ".join(_fmt(r["ratios"][k], 2) for k, _ in ratio_cols) + " |")
    for extra in (families_markdown(result.get("families")), registry_markdown(result.get("models"))):
        if extra:
            lines += ["", *extra]
    tg = result["target"]
    lines += ["", "## Target", ""]
    if tg["measured"] is None:
        lines.append(f"{tg['cell'].upper()} {tg['size']}: {tg['criterion']}: not measured in this run.")
    else:
        meas = tg["measured"]
        verdict = "MET" if tg["met"] else "NOT MET"
        lines.append(
            f"{tg['cell'].upper()} {tg['size']}: {tg['criterion']}: preprocessing + step (ours) p50 "
            f"{_fmt(meas['ours_p50_us'])} µs ({'ok' if tg['p50_ok'] else 'over'} the "
            f"{tg['p50_limit_us']:g} µs limit), torch eager step p50 {_fmt(meas['torch_eager_p50_us'])} µs, speed-up "
            f"{meas['speedup_vs_torch']:.2f}× ({'ok' if tg['speedup_ok'] else 'under'} "
            f"{tg['min_speedup_vs_torch']:g}×)"
            f" → **{verdict}** (measured, not asserted). For reference: {BATCH} streams batched "
            f"{_fmt(meas['ours_batched_p50_us'])} µs per stream-sample, raw onnxruntime IOBinding on the step graph "
            f"{_fmt(meas['ort_iobinding_p50_us'])} µs, network step alone {_fmt(meas['ort_net_p50_us'])} µs, torch "
            f"eager pre+step {_fmt(meas['torch_preprocess_p50_us'])} µs ({meas['speedup_vs_torch_preprocess']:.2f}× "
            "ours)."
        )
    return "\n".join(lines) + "\n"


def plot_results(result: dict[str, Any], path: Path) -> None:
    """p50 bars per variant per size (one panel per cell, log y), p99 as ticks; saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = list(dict.fromkeys(r["cell"] for r in result["results"]))
    fig, axes = plt.subplots(1, len(cells), figsize=(6.5 * len(cells), 4.5), squeeze=False, sharey=True)
    width = 0.8 / len(VARIANTS)
    for ax, cell in zip(axes[0], cells):
        rows = [r for r in result["results"] if r["cell"] == cell]
        xs = np.arange(len(rows))
        for i, v in enumerate(VARIANTS):
            pos = xs + (i - (len(VARIANTS) - 1) / 2) * width
            p50 = [r["variants"][v]["p50_us"] for r in rows]
            p99 = [r["variants"][v]["p99_us"] for r in rows]
            ax.bar(pos, p50, width, label=v)
            ax.plot(pos, p99, "k_", markersize=8)
        ax.set_yscale("log")
        ax.set_xticks(xs, [r["size"] for r in rows])
        ax.set_title(f"{cell.upper()}: per-sample p50 (bars), p99 (ticks)")
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0][0].set_ylabel("µs per sample (T = 1)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"bci-stream inference latency — {result['created']} ({result['profile']['name']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(result: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write ``inference.json``, ``inference.md`` and ``inference.png`` into ``out_dir``; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "inference.json", "md": out_dir / "inference.md", "png": out_dir / "inference.png"}
    paths["json"].write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    paths["md"].write_text(format_markdown(result), encoding="utf-8")
    plot_results(result, paths["png"])
    return paths
