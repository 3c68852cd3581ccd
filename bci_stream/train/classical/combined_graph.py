"""Step graph and export of the combined decoder (family ``csp_riemann``; needs ``onnx``).

One graph with the contract of every model (:mod:`bci_stream.core.contract`): ``x [B, T, C]`` on the card's
channels (the union of both front-ends'), ``scale``, then per front-end

* its causal band-pass over all C channels (float64, the ``Preprocessor``'s state-space filter): the two
  front-ends share one filter state ``zf`` when their filters are the same, else the tangent-space one has
  its own ``zf_ts`` (both ``[1, S, C]``, init ``first_sample``, so the runtime starts them from the stream's
  first sample as any filter state; filtering every channel and then picking is the same as picking first,
  the filter being per channel);
* its channels (``Gather``), its CAR if any (its own ``Preprocessor``'s affine map on its channels);
* its core exactly as the single-family graphs build it (:func:`~.graphs.add_csp_lda_core`, state
  ``power``; :func:`~.graphs.add_riemann_core`, state ``cov``);

and the combination of the two logits (:mod:`.combined`): ``softmax((l_csp + l_ts) / 2)`` (``logmean``) or
``(softmax(l_csp) + softmax(l_ts)) / 2`` (``probmean``) → ``y [B, T, K]`` float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto

from bci_stream.core.card import Architecture, ModelCard
from bci_stream.core.contract import SCALE, X, Y, StateSpec, StepSpec
from bci_stream.dsp.preprocess import PreprocessingConfig, Preprocessor
from bci_stream.train.classical.combined import (
    FAMILY,
    CombinedParams,
    check_combined,
    combined_reference,
    params_dict,
)
from bci_stream.train.classical.export import PARITY_TOLERANCE, _card_fields, parity_samples, synthetic_parity_input
from bci_stream.train.classical.graphs import _softmax_out, add_csp_lda_core, add_riemann_core
from bci_stream.train.classical.logm_graph import LOGM_MAX_CONDITION, LOGM_TOL, logm_plan
from bci_stream.train.export.graph import BlockLength, GraphBuilder, add_linear_filter
from bci_stream.train.export.step_graph import (
    DEFAULT_MAX_BLOCK,
    FILTER_STATE,
    filter_state_spec,
    state_io,
    write_model,
)


def _filter_config(cfg: PreprocessingConfig) -> PreprocessingConfig:
    """The filtering part of a preprocessing (band-pass, notch): what the front-ends may share."""
    return PreprocessingConfig(bandpass=cfg.bandpass, filter_order=cfg.filter_order, notch=cfg.notch,
                               notch_q=cfg.notch_q)


def add_front_end(g: GraphBuilder, scaled: str, length: BlockLength, cfg: PreprocessingConfig, idx: list[int],
                  n_all: int, sfreq: float, max_block: int, tag: str, filtered: dict, states: list[StateSpec]) -> str:
    """The preprocessed ``[B, T, len(idx)]`` float64 of one front-end (filters shared through ``filtered``, keyed by
    the filter's settings; a new filter's state is appended to ``states``: the first ``zf``, then ``zf_<tag>``)."""
    key = _filter_config(cfg).model_dump_json()
    if key not in filtered:
        flt = Preprocessor(_filter_config(cfg), n_all, sfreq)
        if flt.sos is None:
            filtered[key] = scaled
        else:
            name = FILTER_STATE if not states else f"{FILTER_STATE}_{tag}"
            z_in, z_out = state_io(name)
            a, b, c, d = flt.state_space
            g.add_input(z_in, np.float64, ["B", len(a), n_all])
            g.add_output(z_out, np.float64, ["B", len(a), n_all])
            filtered[key] = add_linear_filter(g, scaled, z_in, z_out, a, b, c, d, max_block, length, f"{tag}/filter")
            states.append(filter_state_spec(flt).model_copy(update={"name": name, "input": z_in, "output": z_out}))
    u = filtered[key]
    if idx != list(range(n_all)):
        u = g.op("Gather", [u, g.const(np.asarray(idx, dtype=np.int64), f"{tag}/channels", np.int64)],
                 f"{tag}/picked", axis=2)
    affine = Preprocessor(cfg, len(idx), sfreq).affine  # CAR / standardisation over this front-end's channels
    if affine is not None:
        spatial, offset = affine
        u = g.op("Add", [g.op("MatMul", [u, g.const(spatial, f"{tag}/spatial", np.float64)], f"{tag}/car"),
                         g.const(offset, f"{tag}/offset", np.float64)], f"{tag}/u")
    return u


def combined_step_graph(p: CombinedParams, max_block: int = DEFAULT_MAX_BLOCK, *,
                        logm_max_condition: float = LOGM_MAX_CONDITION) -> tuple[onnx.ModelProto, StepSpec]:
    """The combined decoder's step graph and its I/O (states ``zf`` [, ``zf_ts``], ``power``, ``cov``)."""
    check_combined(p)
    if max_block < 1:
        raise ValueError(f"max_block must be >= 1, got {max_block}")
    n_all, n_out = len(p.ch_names), len(p.labels)
    n = int(np.asarray(p.riemann.cov_init).shape[0])
    plan = logm_plan(n, logm_max_condition)
    g = GraphBuilder()
    g.add_input(X, np.float32, ["B", "T", n_all])
    g.add_input(SCALE, np.float64, ["B", 1, n_all])
    length = BlockLength(g, X)
    scaled = g.op("Mul", [g.op("Cast", [X], "pre/x64", to=TensorProto.DOUBLE), SCALE], "pre/scaled")
    i_csp, i_ts = p.indices()
    filtered: dict[str, str] = {}
    states: list[StateSpec] = []
    u_csp = add_front_end(g, scaled, length, p.csp.preprocessing, i_csp, n_all, p.sfreq, max_block, "csp", filtered,
                       states)
    u_ts = add_front_end(g, scaled, length, p.riemann.preprocessing, i_ts, n_all, p.sfreq, max_block, "ts", filtered,
                      states)
    _, l_csp, power = add_csp_lda_core(g, p.csp, u_csp, length, max_block)
    l_ts, cov = add_riemann_core(g, p.riemann, u_ts, length, max_block, plan)
    half = g.const(0.5, "mix/half", np.float64)
    if p.combine == "logmean":
        _softmax_out(g, g.op("Mul", [g.op("Add", [l_csp, l_ts], "mix/sum"), half], "mix/logits"), n_out)
    else:  # probmean
        probs = [g.op("Softmax", [lg], f"mix/p_{tag}", axis=-1) for lg, tag in ((l_csp, "csp"), (l_ts, "ts"))]
        mean = g.op("Mul", [g.op("Add", probs, "mix/psum"), half], "mix/pmean")
        g.op("Cast", [mean], to=TensorProto.FLOAT, outputs=[Y])
        g.add_output(Y, np.float32, ["B", "T", n_out])
    spec = StepSpec(family=FAMILY, n_chans=n_all, n_outputs=n_out, max_block=max_block, states=[*states, power, cov])
    doc = (f"bci-stream combined CSP+LDA and tangent-space + LR step graph ({p.combine}): "
           f"{np.asarray(p.csp.filters).shape[1]} CSP components on {len(i_csp)} channels, tangent space n {n} on "
           f"{len(i_ts)} channels, {n_out} classes; {len(states)} filter state(s)")
    return g.model("csp_riemann_step", doc), spec


def combined_parity_input(p: CombinedParams, n_samples: int | None = None, seed: int = 0) -> np.ndarray:
    """Raw samples ``[n_samples, C]`` (float32; default :func:`~.export.parity_samples`): each front-end's
    :func:`~.export.synthetic_parity_input` on its channels, added where they overlap."""
    n_samples = parity_samples(p.sfreq) if n_samples is None else n_samples
    i_csp, i_ts = p.indices()
    x = np.zeros((n_samples, len(p.ch_names)))
    x[:, i_csp] += synthetic_parity_input(p.csp, n_samples, seed)
    x[:, i_ts] += synthetic_parity_input(p.riemann, n_samples, seed + 1)
    return x.astype(np.float32)


def export_csp_riemann(p: CombinedParams, out_dir: Path | str, *, name: str, version: str,
                       training: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
                       parity_input: np.ndarray | None = None, parity_tolerance: float = PARITY_TOLERANCE,
                       max_block: int = DEFAULT_MAX_BLOCK, logm_max_condition: float = LOGM_MAX_CONDITION,
                       scoring: dict[str, Any] | None = None) -> ModelCard:
    """Write the combined decoder ``p`` to ``out_dir/model.{onnx,json}``; return its card.

    ``scoring``: as for :func:`~.export.export_csp_lda`. The card's ``preprocessing`` is the CSP front-end's
    (filter state ``zf``); ``architecture.front_ends`` gives each front-end's channels and preprocessing.

    Raises
    ------
    ValueError
        Inconsistent parameters (named).
    ModelError
        The step graph run one sample at a time (and in blocks) differs from :func:`~.combined.combined_reference`
        by more than ``parity_tolerance`` on ``parity_input`` (default :func:`combined_parity_input`); nothing
        is written.
    """
    check_combined(p)
    proto, spec = combined_step_graph(p, max_block, logm_max_condition=logm_max_condition)
    plan = logm_plan(int(np.asarray(p.riemann.cov_init).shape[0]), logm_max_condition)
    arch = Architecture(family=FAMILY, combine=p.combine, front_ends=params_dict(p),
                        logm={"method": "chebyshev", "degree": plan.degree, "max_condition": plan.max_condition,
                              "tol": LOGM_TOL, "matmuls": plan.n_matmuls})
    x = combined_parity_input(p) if parity_input is None else parity_input
    return write_model(proto, spec, out_dir, _card_fields(p, name, version, arch, training, metrics, scoring),
                       lambda raw: combined_reference(p, raw), parity_input=x, parity_tolerance=parity_tolerance)


__all__ = ["add_front_end", "combined_parity_input", "combined_step_graph", "export_csp_riemann"]
