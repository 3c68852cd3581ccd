"""What the inference benchmark measures and how much: the sizes, cells and variants, and the quick and full profiles.

The recurrent rows' models (:data:`DEFAULT_SIZES` of :data:`CELLS`, :data:`SFREQ`, :data:`BANDPASS`), the seven
:data:`VARIANTS` that step through them (described in :mod:`latency_bench.inference`), the streams per batched call
(:data:`BATCH`), the chunk sizes of the throughput measurement (:data:`CHUNK_SIZES`), and the profiles
(:data:`QUICK`, :data:`FULL`, or one with fewer steps: ``_custom_profile``).
"""

from __future__ import annotations

from dataclasses import dataclass


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
