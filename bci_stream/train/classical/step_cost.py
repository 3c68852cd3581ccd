"""What an exported decoder costs per sample on this machine, for calibrate's report.

A model that cannot keep up with its stream is not deployable, whatever its accuracy: :func:`step_cost` runs
the exported step graph with the runtime's :class:`~bci_stream.engine.step_model.StepModel` one sample per call
(the worst case: an amplifier that pushes single samples) on random samples of the card's scale and reports the
median and 99th percentile against the sample period. It measures; it never changes what calibrate ships (a
timing depends on the machine; the report says where it was measured).
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

N_STEPS = 300
WARMUP = 20
#: The report warns when the median single-sample step takes more than this share of the sample period.
WARN_SHARE = 0.5


#: What calibrate's warning advises (its report); ``upgrade-model`` gives its own.
CALIBRATE_ADVICE = ("chunked streams cost less per sample; `--no-average` ships one decoder, several times "
                    "cheaper")


def step_cost(model_dir: Path, n_steps: int = N_STEPS, seed: int = 0, advice: str = CALIBRATE_ADVICE) -> dict:
    """Median / p99 µs of one single-sample step of the model in ``model_dir``, the sample period, and a warning
    (or None) when the median exceeds :data:`WARN_SHARE` of the period, ending in ``advice``."""
    from bci_stream.core.card import ONNX_FILE, ModelCard
    from bci_stream.engine.step_model import StepModel

    card = ModelCard.model_validate_json((Path(model_dir) / "model.json").read_text(encoding="utf-8"))
    model = StepModel(Path(model_dir) / ONNX_FILE, card)
    state = model.new_state()
    x = (10.0 * np.random.default_rng(seed).standard_normal((n_steps + WARMUP, model.n_chans))).astype(np.float32)
    times = []
    for i in range(n_steps + WARMUP):
        t0 = time.perf_counter()
        model.run(x[i:i + 1], state)
        if i >= WARMUP:
            times.append((time.perf_counter() - t0) * 1e6)
    p50, p99 = (float(np.percentile(times, q)) for q in (50, 99))
    period = 1e6 / card.sfreq
    warning = None
    if p50 > WARN_SHARE * period:
        warning = (f"one sample per call takes {p50:.0f} µs (median) of a {period:.0f} µs sample period at "
                   f"{card.sfreq:g} Hz: this decoder may not keep up with single-sample pushes on this machine "
                   f"({advice})")
    return {"p50_us": round(p50, 1), "p99_us": round(p99, 1), "n_steps": n_steps, "sample_period_us": round(period, 1),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "warning": warning}


__all__ = ["CALIBRATE_ADVICE", "N_STEPS", "WARN_SHARE", "step_cost"]
