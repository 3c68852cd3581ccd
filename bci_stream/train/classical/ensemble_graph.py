"""Step graph and export of the averaged decoder (family ``ensemble``; needs ``onnx``).

One graph with the contract of every model (:mod:`bci_stream.core.contract`): ``x [B, T, C]`` on the card's
channels (the union of the members'), ``scale``, then per member, as :mod:`.combined_graph` builds a front-end:

* its causal band-pass over all C channels (float64): members with the same filter share one state (the first
  ``zf``, the others ``zf_m<i>``, named after the first member that needs them; init ``first_sample``);
* its channels (``Gather``) and its CAR if any;
* its core exactly as the single-family graphs build it (:func:`~.graphs.add_csp_lda_core`, state ``power_<i>``;
  :func:`~.graphs.add_riemann_core`, state ``cov_<i>``);

and the mean of the members' softmax probabilities → ``y [B, T, K]`` float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto

from bci_stream.core.card import Architecture, ModelCard
from bci_stream.core.contract import SCALE, X, Y, StateSpec, StepSpec
from bci_stream.train.classical.combined_graph import add_front_end
from bci_stream.train.classical.ensemble import FAMILY, EnsembleParams, check_ensemble, ensemble_reference, params_dict
from bci_stream.train.classical.export import PARITY_TOLERANCE, _card_fields, parity_samples, synthetic_parity_input
from bci_stream.train.classical.graphs import add_csp_lda_core, add_riemann_core
from bci_stream.train.classical.logm_graph import LOGM_MAX_CONDITION, LOGM_TOL, logm_plan
from bci_stream.train.classical.params import CspLdaParams
from bci_stream.train.export.graph import BlockLength, GraphBuilder
from bci_stream.train.export.step_graph import DEFAULT_MAX_BLOCK, write_model


def _plans(p: EnsembleParams, logm_max_condition: float) -> dict[int, Any]:
    """The matrix-log plan of each tangent-space member's size."""
    sizes = {int(np.asarray(m.cov_init).shape[0]) for m in p.members if not isinstance(m, CspLdaParams)}
    return {n: logm_plan(n, logm_max_condition) for n in sorted(sizes)}


def ensemble_step_graph(p: EnsembleParams, max_block: int = DEFAULT_MAX_BLOCK, *,
                        logm_max_condition: float = LOGM_MAX_CONDITION) -> tuple[onnx.ModelProto, StepSpec]:
    """The averaged decoder's step graph and its I/O (filter states, then ``power_<i>`` / ``cov_<i>`` per member)."""
    check_ensemble(p)
    if max_block < 1:
        raise ValueError(f"max_block must be >= 1, got {max_block}")
    n_all, n_out = len(p.ch_names), len(p.labels)
    plans = _plans(p, logm_max_condition)
    g = GraphBuilder()
    g.add_input(X, np.float32, ["B", "T", n_all])
    g.add_input(SCALE, np.float64, ["B", 1, n_all])
    length = BlockLength(g, X)
    scaled = g.op("Mul", [g.op("Cast", [X], "pre/x64", to=TensorProto.DOUBLE), SCALE], "pre/scaled")
    filtered: dict[str, str] = {}
    filters: list[StateSpec] = []
    estimators: list[StateSpec] = []
    probs = []
    for i, (m, idx) in enumerate(zip(p.members, p.indices())):
        tag = f"m{i}"
        u = add_front_end(g, scaled, length, m.preprocessing, idx, n_all, p.sfreq, max_block, tag, filtered, filters)
        if isinstance(m, CspLdaParams):  # node names are made unique by the builder
            _, logits, state = add_csp_lda_core(g, m, u, length, max_block, state=f"power_{i}")
        else:
            logits, state = add_riemann_core(g, m, u, length, max_block, plans[int(np.asarray(m.cov_init).shape[0])],
                                             state=f"cov_{i}")
        estimators.append(state)
        probs.append(g.op("Softmax", [logits], f"mix/p_{tag}", axis=-1))
    total = probs[0] if len(probs) == 1 else g.op("Sum", probs, "mix/psum")
    mean = g.op("Mul", [total, g.const(1.0 / len(probs), "mix/inv_n", np.float64)], "mix/pmean")
    g.op("Cast", [mean], to=TensorProto.FLOAT, outputs=[Y])
    g.add_output(Y, np.float32, ["B", "T", n_out])
    spec = StepSpec(family=FAMILY, n_chans=n_all, n_outputs=n_out, max_block=max_block, states=[*filters, *estimators])
    n_csp = sum(isinstance(m, CspLdaParams) for m in p.members)
    doc = (f"bci-stream averaged classical decoder: mean of {len(p.members)} members' probabilities ({n_csp} CSP+LDA, "
           f"{len(p.members) - n_csp} tangent space + LR) on {n_all} channels, {n_out} classes; "
           f"{len(filters)} filter state(s)")
    return g.model("ensemble_step", doc), spec


def ensemble_parity_input(p: EnsembleParams, n_samples: int | None = None, seed: int = 0) -> np.ndarray:
    """Raw samples ``[n_samples, C]`` (float32; default :func:`~.export.parity_samples`): the members'
    :func:`~.export.synthetic_parity_input` on their channels, summed and scaled by ``1 / sqrt(n_members)`` (the
    covariance of the sum is then the mean of theirs)."""
    n_samples = parity_samples(p.sfreq) if n_samples is None else n_samples
    x = np.zeros((n_samples, len(p.ch_names)))
    for i, (m, idx) in enumerate(zip(p.members, p.indices())):
        x[:, idx] += synthetic_parity_input(m, n_samples, seed + i)
    return (x / np.sqrt(len(p.members))).astype(np.float32)


def export_ensemble(p: EnsembleParams, out_dir: Path | str, *, name: str, version: str,
                    training: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
                    parity_input: np.ndarray | None = None, parity_tolerance: float = PARITY_TOLERANCE,
                    max_block: int = DEFAULT_MAX_BLOCK, logm_max_condition: float = LOGM_MAX_CONDITION,
                    scoring: dict[str, Any] | None = None) -> ModelCard:
    """Write the averaged decoder ``p`` to ``out_dir/model.{onnx,json}``; return its card.

    ``scoring``: as for :func:`~.export.export_csp_lda`. The card's ``preprocessing`` is the first member's
    (filter state ``zf``; a hot swap compares it, and carries a filter state over only where its spec, the filter's
    response included, is the same); ``architecture.members`` gives each member's family, channels and
    preprocessing, and the card's ``preprocessing_note`` says so in words
    (:meth:`~.ensemble.EnsembleParams.preprocessing_note`).

    Raises
    ------
    ValueError
        Inconsistent parameters (named).
    ModelError
        The step graph run one sample at a time (and in blocks) differs from :func:`~.ensemble.ensemble_reference`
        by more than ``parity_tolerance`` on ``parity_input`` (default :func:`ensemble_parity_input`); nothing is
        written.
    """
    check_ensemble(p)
    proto, spec = ensemble_step_graph(p, max_block, logm_max_condition=logm_max_condition)
    logm = [{"n": n, "method": "chebyshev", "degree": plan.degree, "max_condition": plan.max_condition,
             "tol": LOGM_TOL, "matmuls": plan.n_matmuls} for n, plan in _plans(p, logm_max_condition).items()]
    arch = Architecture(family=FAMILY, combine="probmean", members=params_dict(p), logm=logm)
    x = ensemble_parity_input(p) if parity_input is None else parity_input
    fields = _card_fields(p, name, version, arch, training, metrics, scoring) | {"preprocessing_note":
                                                                                p.preprocessing_note()}
    return write_model(proto, spec, out_dir, fields, lambda raw: ensemble_reference(p, raw), parity_input=x,
                       parity_tolerance=parity_tolerance)


__all__ = ["ensemble_parity_input", "ensemble_step_graph", "export_ensemble"]
