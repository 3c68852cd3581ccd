"""Export fitted classical decoders (CSP+LDA, tangent space + LR) as step-graph model folders (needs ``onnx``).

Each export builds the family's step graph (:mod:`bci_stream.train.classical.graphs`) and writes it with
:func:`~bci_stream.train.export.step_graph.write_model`: the written graph, run one raw sample at a time by the
runtime's own :class:`~bci_stream.engine.step_model.StepModel`, must match the offline float64 reference
(:mod:`bci_stream.train.classical.reference`) within ``parity_tolerance`` on the class probabilities, or
nothing is written.

The parity input is, unless given, synthetic: Gaussian components with the parameters' own initial
covariance (or power) and slow amplitude modulations, mapped back to the channels through the
pseudo-inverse of the preprocessing's spatial map and the decoder's projection, plus per-channel DC
offsets. It drives the estimators through the range they see on real data, so the check is meaningful
without shipping training data. Pass real samples (``parity_input``) to check on those instead.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal as sps

from bci_stream.train.export.step_graph import DEFAULT_MAX_BLOCK, write_model
from bci_stream.core.card import Architecture, ModelCard, OutputSpec, ScoringSpec
from bci_stream.dsp.preprocess import Preprocessor
from bci_stream.train.classical.graphs import csp_lda_step_graph, riemann_step_graph
from bci_stream.train.classical.logm_graph import LOGM_MAX_CONDITION, LOGM_TOL, logm_plan
from bci_stream.train.classical.params import CspLdaParams, RiemannParams, clip_entry
from bci_stream.train.classical.reference import (
    check_csp_lda,
    check_riemann,
    csp_lda_reference,
    riemann_reference,
    shrink,
)

UNIT = "microvolts"
PARITY_SAMPLES = 2000
PARITY_SECONDS = 8.0  # and at least this long: the band-pass and the running estimators (tau_s <= 1 s) settled
PARITY_TOLERANCE = 1e-4


def parity_samples(sfreq: float) -> int:
    """Length of the synthetic parity input at ``sfreq``: :data:`PARITY_SAMPLES`, or :data:`PARITY_SECONDS` when
    longer (2000 samples are 12.5 s at 160 Hz but under a second at 2048 Hz, before the estimators settle)."""
    return max(PARITY_SAMPLES, math.ceil(PARITY_SECONDS * sfreq))


def synthetic_parity_input(params: CspLdaParams | RiemannParams, n_samples: int | None = None,
                           seed: int = 0) -> np.ndarray:
    """Raw samples ``[n_samples, C]`` (float32, the card's unit; default :func:`parity_samples`) that exercise the
    decoder (module docstring)."""
    n_samples = parity_samples(params.sfreq) if n_samples is None else n_samples
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    n_chans = len(params.ch_names)
    pre = Preprocessor(params.preprocessing, n_chans, params.sfreq)
    spatial = pre.affine[0] if pre.affine is not None else np.eye(n_chans)
    if isinstance(params, CspLdaParams):
        proj = np.asarray(params.filters, dtype=np.float64)
        target = np.diag(np.asarray(params.power_init, dtype=np.float64))
    else:
        proj = np.eye(n_chans) if params.projection is None else np.asarray(params.projection, dtype=np.float64)
        target = shrink(np.asarray(params.cov_init, dtype=np.float64), params.shrinkage)
    total = spatial @ proj  # [C, k]: raw (after the band-pass) -> components
    gain = 1.0
    if pre.sos is not None:  # power gain of the band-pass for white noise
        impulse = np.zeros(int(20 * params.sfreq) + 1)
        impulse[0] = 1.0
        gain = float(np.sum(sps.sosfilt(pre.sos, impulse) ** 2))
    rng = np.random.default_rng(seed)
    k = total.shape[1]
    t = np.arange(n_samples) / params.sfreq
    envelope = np.exp(0.6 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4, k) * t[:, None] + rng.uniform(0, 2 * np.pi, k)))
    w, v = np.linalg.eigh(target)
    root = v * np.sqrt(np.clip(w, 0.0, None))
    comp = (rng.standard_normal((n_samples, k)) * envelope) @ root.T / np.sqrt(gain)
    x = comp @ np.linalg.pinv(total)
    if pre.sos is not None:
        x += rng.uniform(-200.0, 200.0, n_chans)  # amplifier DC offsets, removed by the band-pass
    return x.astype(np.float32)


def _card_fields(params: CspLdaParams | RiemannParams, name: str, version: str, architecture: Architecture,
                 training: dict[str, Any] | None, metrics: dict[str, Any] | None,
                 scoring: dict[str, Any] | None = None) -> dict[str, Any]:
    return dict(
        scoring=None if scoring is None else ScoringSpec.model_validate(scoring),
        name=name,
        version=version,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        architecture=architecture,
        n_chans=len(params.ch_names),
        ch_names=list(params.ch_names),
        sfreq=float(params.sfreq),
        unit=UNIT,
        preprocessing=params.preprocessing,
        output=OutputSpec(kind="categorical", labels=list(params.labels)),
        training=training or {},
        metrics=metrics or {},
    )


def export_csp_lda(params: CspLdaParams, out_dir: Path | str, *, name: str, version: str,
                   training: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
                   parity_input: np.ndarray | None = None, parity_tolerance: float = PARITY_TOLERANCE,
                   max_block: int = DEFAULT_MAX_BLOCK, scoring: dict[str, Any] | None = None) -> ModelCard:
    """Write the CSP+LDA decoder ``params`` to ``out_dir/model.{onnx,json}``; return its card.

    ``scoring`` (``{"marker_map": {event: label}, "decision_time_s": s}``) goes into the card: how the service
    scores live trials against a marker stream.

    Raises
    ------
    ValueError
        Inconsistent parameters (named).
    ModelError
        The step graph run one sample at a time differs from :func:`csp_lda_reference` by more than
        ``parity_tolerance`` on ``parity_input`` (default: :func:`synthetic_parity_input`); nothing is written.
    """
    check_csp_lda(params)
    proto, spec = csp_lda_step_graph(params, max_block)
    arch = Architecture(family="csp_lda", n_components=int(np.asarray(params.filters).shape[1]),
                        tau_s=float(params.tau_s), **clip_entry(params))
    x = synthetic_parity_input(params) if parity_input is None else parity_input
    return write_model(proto, spec, out_dir, _card_fields(params, name, version, arch, training, metrics, scoring),
                       lambda raw: csp_lda_reference(params, raw), parity_input=x, parity_tolerance=parity_tolerance)


def export_riemann(params: RiemannParams, out_dir: Path | str, *, name: str, version: str,
                   training: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
                   parity_input: np.ndarray | None = None, parity_tolerance: float = PARITY_TOLERANCE,
                   max_block: int = DEFAULT_MAX_BLOCK, logm_max_condition: float = LOGM_MAX_CONDITION,
                   scoring: dict[str, Any] | None = None) -> ModelCard:
    """Write the tangent-space + LR decoder ``params`` to ``out_dir/model.{onnx,json}``; return its card.

    ``logm_max_condition``: see :func:`~bci_stream.train.classical.graphs.riemann_step_graph`; ``scoring``: as
    for :func:`export_csp_lda`.

    Raises
    ------
    ValueError
        Inconsistent parameters (named).
    ModelError
        The step graph run one sample at a time differs from :func:`riemann_reference` by more than
        ``parity_tolerance`` on ``parity_input`` (default: :func:`synthetic_parity_input`); nothing is written.
    """
    check_riemann(params)
    proto, spec = riemann_step_graph(params, max_block, logm_max_condition=logm_max_condition)
    n = int(np.asarray(params.cov_init).shape[0])
    plan = logm_plan(n, logm_max_condition)
    arch = Architecture(family="riemann", n_dims=n, projection=params.projection is not None,
                        tau_s=float(params.tau_s), shrinkage=float(params.shrinkage),
                        logm={"method": "chebyshev", "degree": plan.degree, "max_condition": plan.max_condition,
                              "tol": LOGM_TOL, "matmuls": plan.n_matmuls}, **clip_entry(params))
    x = synthetic_parity_input(params) if parity_input is None else parity_input
    return write_model(proto, spec, out_dir, _card_fields(params, name, version, arch, training, metrics, scoring),
                       lambda raw: riemann_reference(params, raw), parity_input=x, parity_tolerance=parity_tolerance)
