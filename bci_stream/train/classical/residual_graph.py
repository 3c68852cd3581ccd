"""Step graph and export of the residual GRU on CSP+LDA (family ``csp_gru``; needs ``onnx``).

One graph with the contract of every model (:mod:`bci_stream.core.contract`): the card's preprocessing and
the CSP+LDA core exactly as :func:`~.graphs.csp_lda_step_graph` builds them (float64; states ``zf`` and the
running ``power``, role ``estimator``), then on the log power ``z``::

    v = z (inputs "log_power") or the classical logits l = z @ coef.T + intercept (inputs "logits")
    vs = Cast<float32>((v - in_mean) / in_std)
    Y, h_n = GRU(vs, h0)                        # ONNX GRU, linear_before_reset=1 (torch's), state ``h0``
    y = softmax(l + Cast<float64>(Y @ out_weight.T + out_bias))

``h0 [1, B, H]`` float32 is the recurrent state (role ``recurrent``, batch axis 1, zeros at start), as in the
recurrent networks' step graphs. Only standard ONNX operators: onnxruntime alone runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx

from bci_stream.core.card import Architecture, ModelCard
from bci_stream.core.contract import StateSpec, StepSpec
from bci_stream.train.classical.export import PARITY_TOLERANCE, _card_fields, synthetic_parity_input
from bci_stream.train.classical.graphs import _softmax_out, add_csp_lda
from bci_stream.train.classical.params import clip_entry
from bci_stream.train.classical.residual_ref import FAMILY, ResidualParams, check_residual, residual_reference
from bci_stream.train.export.graph import GraphBuilder
from bci_stream.train.export.step_graph import DEFAULT_MAX_BLOCK, state_io, write_model

HIDDEN_STATE = "h0"
#: torch stacks the GRU gates (r, z, n); ONNX (z, r, h).
_TORCH_TO_ONNX_GATES = (1, 0, 2)


def onnx_gru_weights(p: ResidualParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ONNX GRU ``W [1, 3H, m]``, ``R [1, 3H, H]``, ``B [1, 6H]`` (float32) of torch-layout weights."""
    h = p.hidden_size

    def reorder(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        return np.concatenate([a[g * h:(g + 1) * h] for g in _TORCH_TO_ONNX_GATES])

    w, r = reorder(p.w_ih)[None], reorder(p.w_hh)[None]
    b = np.concatenate([reorder(p.b_ih), reorder(p.b_hh)])[None]
    return w.astype(np.float32), r.astype(np.float32), b.astype(np.float32)


def csp_gru_step_graph(p: ResidualParams, max_block: int = DEFAULT_MAX_BLOCK) -> tuple[onnx.ModelProto, StepSpec]:
    """The residual decoder's step graph and its I/O (states ``zf`` if filtered, ``power``, ``h0``)."""
    check_residual(p)
    if max_block < 1:
        raise ValueError(f"max_block must be >= 1, got {max_block}")
    csp = p.csp
    n_chans = len(csp.ch_names)
    m, n_out, h = np.asarray(csp.filters).shape[1], np.asarray(csp.coef).shape[0], p.hidden_size
    g = GraphBuilder()
    logp, classical, states = add_csp_lda(g, csp, max_block)  # exactly the CSP+LDA graph's nodes and states
    # the residual: GRU over the standardised log power (or logits), time-major for the ONNX GRU op
    v = logp if p.inputs == "log_power" else classical
    zs = g.op("Div", [g.op("Sub", [v, g.const(p.in_mean, "gru/in_mean", np.float64)], "gru/vc"),
                      g.const(p.in_std, "gru/in_std", np.float64)], "gru/vs64")
    zs = g.op("Cast", [zs], "gru/zs", to=onnx.TensorProto.FLOAT)
    x_tbm = g.op("Transpose", [zs], "gru/x_tbm", perm=[1, 0, 2])
    h_in, h_out = state_io(HIDDEN_STATE)
    g.add_input(h_in, np.float32, [1, "B", h])
    g.add_output(h_out, np.float32, [1, "B", h])
    w, r, b = onnx_gru_weights(p)
    y_seq = g.fresh("gru/Y")
    g.op("GRU", [x_tbm, g.const(w, "gru/W"), g.const(r, "gru/R"), g.const(b, "gru/B"), "", h_in],
         outputs=[y_seq, h_out], hidden_size=h, linear_before_reset=1)
    seq = g.op("Transpose", [g.op("Squeeze", [y_seq, g.const([1], "gru/dir_axis", np.int64)], "gru/Y3")],
               "gru/seq", perm=[1, 0, 2])  # [B, T, H]
    resid = g.op("Add", [g.op("MatMul", [seq, g.const(np.asarray(p.out_weight, np.float32).T, "gru/out_wt")],
                              "gru/out_z"), g.const(np.asarray(p.out_bias, np.float32), "gru/out_b")], "gru/resid")
    logits = g.op("Add", [classical, g.op("Cast", [resid], "gru/resid64", to=onnx.TensorProto.DOUBLE)], "out/logits")
    _softmax_out(g, logits, n_out)
    hidden = StateSpec(name=HIDDEN_STATE, input=h_in, output=h_out, shape=[1, 1, h], batch_axis=1, dtype="float32",
                       role="recurrent", init="zeros")
    spec = StepSpec(family=FAMILY, n_chans=n_chans, n_outputs=n_out, max_block=max_block,
                    states=[*states, hidden])
    doc = (f"bci-stream CSP+LDA + residual GRU step graph: {m} components, tau {csp.tau_s:g} s, GRU {h} units, "
           f"{n_out} classes")
    return g.model("csp_gru_step", doc), spec


def export_csp_gru(p: ResidualParams, out_dir: Path | str, *, name: str, version: str,
                   training: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
                   parity_input: np.ndarray | None = None, parity_tolerance: float = PARITY_TOLERANCE,
                   max_block: int = DEFAULT_MAX_BLOCK, scoring: dict[str, Any] | None = None) -> ModelCard:
    """Write the residual decoder ``p`` to ``out_dir/model.{onnx,json}``; return its card.

    ``scoring``: as for :func:`~.export.export_csp_lda` (how the service scores live trials).

    The written graph, run by the runtime's StepModel one sample at a time and in blocks, must match
    :func:`~.residual_ref.residual_reference` within ``parity_tolerance`` on ``parity_input`` (default: the
    synthetic input of :func:`~.export.synthetic_parity_input`), or nothing is written (:class:`ModelError`).
    """
    check_residual(p)
    proto, spec = csp_gru_step_graph(p, max_block)
    csp = p.csp
    arch = Architecture(family=FAMILY, cell="gru", n_layers=1, hidden_size=p.hidden_size,
                        n_components=int(np.asarray(csp.filters).shape[1]), tau_s=float(csp.tau_s),
                        residual_on="csp_lda", gru_inputs=p.inputs, **clip_entry(csp))
    x = synthetic_parity_input(csp) if parity_input is None else parity_input
    return write_model(proto, spec, out_dir, _card_fields(csp, name, version, arch, training, metrics, scoring),
                       lambda raw: residual_reference(p, raw), parity_input=x, parity_tolerance=parity_tolerance)


__all__ = ["HIDDEN_STATE", "csp_gru_step_graph", "export_csp_gru", "onnx_gru_weights"]
