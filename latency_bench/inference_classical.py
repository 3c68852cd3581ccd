"""The classical rows of the inference benchmark: CSP+LDA, Riemannian, combined and ensemble decoders.

Random but valid parameters of each family (:func:`_classical_params`, shapes :data:`CLASSICAL_SHAPES`), exported
with the real exporter (``bci_stream.train.classical.export``, parity checked), then ``ours`` / ``ours_batched``
per-sample cost of the step graph (:func:`~latency_bench.inference_registry.bench_step_graph`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from latency_bench.inference_profiles import BANDPASS, _Profile
from latency_bench.inference_registry import _p50_p99, bench_step_graph


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


def _classical_params(family: str, n_chans: int, width: int, seed: int) -> Any:
    """Random but valid parameters of a classical decoder (8-30 Hz band-pass, no CAR, 2 classes; components clipped
    as calibrate's defaults clip them)."""
    from bci_stream.dsp.preprocess import PreprocessingConfig
    from bci_stream.train.classical.configs import DEFAULT_CSP, DEFAULT_RIEMANN
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
                            clip_sd=DEFAULT_CSP.clip_sd, **common)
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
                             clip_sd=DEFAULT_RIEMANN.clip_sd, **common)
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

                export = export_csp_riemann
                parity = combined_parity_input(params, CLASSICAL_PARITY_SAMPLES, seed)
            elif family == "ensemble":
                from bci_stream.train.classical.ensemble_graph import ensemble_parity_input, export_ensemble

                export = export_ensemble
                parity = ensemble_parity_input(params, CLASSICAL_PARITY_SAMPLES, seed)
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
