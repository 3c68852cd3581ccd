"""Memory time constants of an LSTM read from its forget gates (LSTM models only).

The cell update is ``c[t] = f[t] * c[t-1] + ...``, so the forget gate ``f`` of each unit is a
data-dependent per-sample decay and ``τ = -Δt / ln f`` the unit's memory time constant ("chrono"
reading of the forget gate). The gate values come from the graph's ``LSTM`` nodes re-run in numpy
(:mod:`bci_stream.analysis.onnx_lstm`) on the very tensor onnxruntime feeds the first ``LSTM`` node
(the preprocessed input), checked against onnxruntime so that an unexpected graph layout raises
instead of being silently misread.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bci_stream.analysis.onnx_lstm import input_width, lstm_chunk, lstm_input_session, lstm_layers
from bci_stream.analysis.recurrent import check_entry, check_recurrent, recurrent_step_model
from bci_stream.analysis.timeconst import json_float
from bci_stream.core.contract import SCALE, X
from bci_stream.core.errors import ModelError
from bci_stream.core.registry import ModelEntry

__all__ = ["lstm_forget_time_constants"]

#: Max difference allowed between the numpy LSTM and onnxruntime: of ``h`` (|h| <= 1), and of ``c`` relative to
#: max(1, max |c|): a slow-forgetting cell state grows to hundreds, where float32 rounding alone is over 1e-4 (an
#: absolute tolerance refused the long-memory LSTMs introspection is for: audit s70model F2).
LSTM_CHECK_TOL = 1e-4
#: Samples per onnxruntime call when checking the numpy LSTM (the numpy run is re-synchronised to
#: onnxruntime's state at each chunk boundary, so a chaotic model cannot fail the check spuriously).
LSTM_CHECK_CHUNK = 64
#: Percentiles of the per-unit forget-gate time constants reported per layer.
PERCENTILES = (5, 25, 50, 75, 95)


def _percentiles(values: np.ndarray, qs: tuple[int, ...]) -> np.ndarray:
    """Percentiles (linear interpolation) of time constants that may be +inf.

    ``np.percentile`` interpolates as ``a + t * (b - a)``, which is NaN (or garbage) next to an infinite value;
    here a percentile that interpolates towards an infinite value is infinite, as the limit is.
    """
    finite = np.isfinite(values)
    if finite.all():
        return np.percentile(values, qs)
    top = float(values[finite].max()) if finite.any() else 0.0
    out = np.percentile(np.where(finite, values, np.finfo(np.float64).max / 4), qs)
    return np.where(out > top, np.inf, out)


def _check_data(x: object, n_chans: int, name: str) -> np.ndarray:
    """``x`` as float32 if it is a finite real ``[T >= 1, n_chans]`` array; ValueError (naming ``name``) otherwise."""
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[1] != n_chans or arr.shape[0] < 1:
        raise ValueError(f"{name} must have shape (T >= 1, n_chans={n_chans}), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real numbers, got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got {int(np.size(arr) - np.isfinite(arr).sum())} NaN/inf values")
    return arr.astype(np.float32)


def lstm_forget_time_constants(entry: ModelEntry, x: np.ndarray) -> dict[str, Any]:
    """Per-unit memory time constants of an LSTM from its forget gates along the raw data ``x``.

    ``x`` goes through the model's step graph as the service runs it (:meth:`StepModel.run`: scaling,
    band-pass filter from a first-sample steady state, CAR, standardisation, then the LSTM). The graph's
    ``LSTM`` nodes are re-run in numpy (float64) from its initializers (parsed with ``onnx``), on the
    tensor onnxruntime feeds the first ``LSTM`` node (the preprocessed input, read from the graph), to
    obtain the forget-gate activation ``f`` of every unit at every sample. Each unit's time constant is
    the median over time of ``τ = -Δt / ln f`` (ms). The numpy run is checked against onnxruntime:
    both start every chunk of 64 samples (fewer if the graph's ``max_block`` is smaller) from
    onnxruntime's state, and the states ``h`` and ``c`` of every layer at the end of each chunk must
    agree to ``1e-4``.

    Parameters
    ----------
    entry
        An LSTM model (from :meth:`ModelRegistry.get`), a step graph (card format 2).
    x
        Raw input ``[T, C]`` in the card's unit and channel order (what a stream sends), finite.

    Returns
    -------
    dict
        JSON-serialisable: ``dt_ms``, ``n_samples``, ``check_max_diff`` (numpy vs onnxruntime: of ``h``, and of
        ``c`` relative to max(1, max |c|)),
        ``check_tolerance``, and ``layers``: per layer ``tau_ms`` (per-unit median τ, ``"inf"`` when a
        unit's median gate rounds to 1), ``forget_mean`` (per-unit mean of ``f``) and
        ``tau_percentiles_ms`` (``{"p5": ..., ..., "p95": ...}`` over units).

    Raises
    ------
    ModelError
        If the model is not a recurrent LSTM step graph, its graph layout is not the one the exporter
        writes, or the numpy recurrence does not reproduce onnxruntime.
    ValueError
        If ``x`` is not a finite ``[T >= 1, n_chans]`` array.
    """
    check_entry(entry)
    check_recurrent(entry)
    card = entry.card
    if card.architecture.cell != "lstm":
        raise ModelError(
            f"model '{card.ref}': forget-gate time constants need an LSTM (architecture.cell 'lstm'), "
            f"got cell {card.architecture.cell!r}"
        )
    xs = _check_data(x, card.n_chans, "x")
    layers = lstm_layers(entry)
    model, _ = recurrent_step_model(entry)
    tap, tap_name = lstm_input_session(entry)
    width = input_width(entry)
    what = "n_chans" if width == card.n_chans else "architecture.power_filters"
    state = model.new_state()
    n_layers, hsz = card.architecture.n_layers, card.architecture.hidden_size
    forget = np.empty((n_layers, xs.shape[0], hsz))
    max_diff = 0.0
    chunk_len = min(LSTM_CHECK_CHUNK, model.spec.max_block)
    for start in range(0, xs.shape[0], chunk_len):
        chunk = xs[start : start + chunk_len]
        if state.pending:  # the first sample initialises the filter state, as StepModel.run would
            state.init_first(chunk[0])
        feed = {X: chunk[None], SCALE: state.scale, **{s.input: state.arrays[s.name] for s in model.spec.states}}
        (net_in,) = tap.run([tap_name], feed)
        if net_in.shape != (len(chunk), 1, width):
            raise ModelError(
                f"model '{card.ref}': the first LSTM node's input {tap_name!r} must have shape (T, 1, {width}) "
                f"(ONNX layout 0; {width} = {what}), got {net_in.shape}"
            )
        h0 = state.arrays["h0"][:, 0, :].astype(np.float64)
        c0 = state.arrays["c0"][:, 0, :].astype(np.float64)
        hn, cn, f = lstm_chunk(layers, net_in[:, 0, :].astype(np.float64), h0, c0)
        model.run(chunk, state)
        c_ort = state.arrays["c0"][:, 0, :]
        diff = max(float(np.max(np.abs(hn - state.arrays["h0"][:, 0, :]))),
                   float(np.max(np.abs(cn - c_ort))) / max(1.0, float(np.max(np.abs(c_ort)))))
        max_diff = max(max_diff, diff)
        if not diff <= LSTM_CHECK_TOL:
            raise ModelError(
                f"model '{card.ref}': the numpy LSTM does not reproduce onnxruntime (max state difference "
                f"{diff:.3g} over samples {start}..{start + len(chunk) - 1}, of h, and of c relative to max(1, |c|); "
                f"tolerance {LSTM_CHECK_TOL:g}): the graph's LSTM is not the one introspection reads (gate order, "
                f"biases, peepholes or activations)"
            )
        forget[:, start : start + len(chunk)] = f

    dt_ms = 1000.0 / card.sfreq
    with np.errstate(divide="ignore"):
        tau = -dt_ms / np.log(np.clip(forget, 0.0, 1.0))  # f == 1 -> inf, f == 0 -> 0
    out_layers = []
    for k in range(n_layers):
        per_unit = np.median(tau[k], axis=0)
        pct = _percentiles(per_unit, PERCENTILES)
        out_layers.append({
            "layer": k,
            "tau_ms": [json_float(v) for v in per_unit],
            "forget_mean": forget[k].mean(axis=0).tolist(),
            "tau_percentiles_ms": {f"p{p}": json_float(v) for p, v in zip(PERCENTILES, pct)},
        })
    return {
        "dt_ms": dt_ms,
        "n_samples": int(xs.shape[0]),
        "check_max_diff": max_diff,
        "check_tolerance": LSTM_CHECK_TOL,
        "layers": out_layers,
    }
