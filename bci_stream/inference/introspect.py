"""Introspection of a deployed causal RNN: the effective memory time constants it implements.

Two views, both computed from the deployed artefact (the ONNX file and its card), not from torch:

* :func:`jacobian_time_constants` (any cell). With no input (``x = 0`` in model units, i.e. the
  training mean after preprocessing) the decoder is an autonomous dynamical system
  ``s[t+1] = F(s[t])`` on its full recurrent state ``s`` (every layer's ``h``, and ``c`` for an LSTM).
  Near its zero-input fixed point ``s*`` a perturbation evolves as ``J^t ds`` with ``J = dF/ds(s*)``,
  so each eigenvalue ``λ`` of ``J`` is one memory mode: it decays by ``|λ|`` per sample, i.e. with
  time constant ``τ = -Δt / ln|λ|``, and rotates by ``arg λ`` per sample, i.e. it oscillates with
  period ``2π Δt / |arg λ|``. This is the linearisation used to read trained RNNs as dynamical
  systems (fixed points and their local spectra).
* :func:`lstm_forget_time_constants` (LSTM only). The cell update is ``c[t] = f[t] * c[t-1] + ...``,
  so the forget gate ``f`` of each unit is a data-dependent per-sample decay and
  ``τ = -Δt / ln f`` the unit's memory time constant ("chrono" reading of the forget gate). The gate
  values are obtained by re-running the ONNX ``LSTM`` nodes in numpy from the graph's initializers,
  checked against onnxruntime so that an unexpected graph layout raises instead of being silently
  misread.

:func:`inspect_model` combines both into a JSON-serialisable report (plus, on request, ``report.json``
and ``time_constants.png``), :func:`format_table` renders it as text, and :func:`run_inspect` is the
``bci-stream inspect MODEL`` entry point.

JSON conventions of the report: infinite time constants (``|λ| >= 1``, or a forget gate that rounds to
1) are stored as the string ``"inf"``; a period that does not exist (a positive real eigenvalue: no
oscillation) is ``None``; complex numbers are stored as ``re`` / ``im`` pairs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.errors import BciStreamError, ModelError
from bci_stream.inference.decoder import Decoder, DecoderState
from bci_stream.inference.registry import ModelEntry, ModelRegistry

__all__ = [
    "jacobian_time_constants",
    "lstm_forget_time_constants",
    "inspect_model",
    "format_table",
    "run_inspect",
]

#: Fixed-point iteration stops when max |s[t+1] - s[t]| / max(1, |s[t]|) drops below this.
FIXED_POINT_TOL = 1e-7
#: Relative finite-difference step for the Jacobian (see :func:`jacobian_time_constants`).
FD_EPS = 1e-3
#: Max abs difference allowed between the numpy LSTM and onnxruntime (states ``h``, ``c``).
LSTM_CHECK_TOL = 1e-4
#: Samples per onnxruntime call when checking the numpy LSTM (the numpy run is re-synchronised to
#: onnxruntime's state at each chunk boundary, so a chaotic model cannot fail the check spuriously).
LSTM_CHECK_CHUNK = 64
#: Percentiles of the per-unit forget-gate time constants reported per layer.
PERCENTILES = (5, 25, 50, 75, 95)
#: Seconds of simulated EEG used for an LSTM when no data is given.
DEFAULT_DATA_S = 20.0

_INF = "inf"


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def _check_entry(entry: object) -> ModelEntry:
    if not isinstance(entry, ModelEntry):
        raise ValueError(f"entry must be a ModelEntry (from ModelRegistry.get), got {type(entry).__name__}")
    return entry


def _tau_ms(decay: float, dt_ms: float) -> float:
    """``-Δt / ln(decay)`` in ms for a per-sample decay factor ``decay >= 0``; inf when ``decay >= 1``."""
    if decay >= 1.0:
        return math.inf
    if decay <= 0.0:
        return 0.0
    return -dt_ms / math.log(decay)


def _json_float(value: float) -> float | str:
    """A float for JSON: ``"inf"`` for +inf (NaN never occurs here)."""
    return _INF if math.isinf(value) else float(value)


def _from_json_float(value: float | str | None) -> float:
    if value is None:
        return math.nan
    return math.inf if value == _INF else float(value)


def _state_layout(decoder: Decoder) -> list[dict[str, Any]]:
    """Where each (array, layer) block sits in the flat state vector: array-major, then layer, then unit."""
    layout = []
    h = decoder.hidden_size
    pos = 0
    for name in decoder.state_inputs:
        for layer in range(decoder.n_layers):
            layout.append({"array": name, "layer": layer, "start": pos, "stop": pos + h})
            pos += h
    return layout


def _flatten(arrays: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    """``{name: [L, B, H]}`` -> ``[B, len(names) * L * H]`` (array-major, then layer, then unit)."""
    parts = [np.transpose(arrays[n], (1, 0, 2)).reshape(arrays[n].shape[1], -1) for n in names]
    return np.concatenate(parts, axis=1)


def _unflatten(flat: np.ndarray, names: list[str], n_layers: int, hidden: int) -> dict[str, np.ndarray]:
    """Inverse of :func:`_flatten`: ``[B, D]`` -> ``{name: [L, B, H]}`` (float32, contiguous)."""
    b = flat.shape[0]
    block = n_layers * hidden
    out = {}
    for i, n in enumerate(names):
        part = flat[:, i * block : (i + 1) * block].reshape(b, n_layers, hidden)
        out[n] = np.ascontiguousarray(np.transpose(part, (1, 0, 2)), dtype=np.float32)
    return out


def _step_batch(decoder: Decoder, states: np.ndarray) -> np.ndarray:
    """One zero-input step of ``B`` states at once through onnxruntime: ``[B, D]`` -> ``[B, D]``."""
    names = decoder.state_inputs
    feed: dict[str, np.ndarray] = {"x": np.zeros((states.shape[0], 1, decoder.card.n_chans), dtype=np.float32)}
    feed.update(_unflatten(states, names, decoder.n_layers, decoder.hidden_size))
    _, *new = decoder.session.run(["y", *decoder.state_outputs], feed)
    return _flatten(dict(zip(names, new)), names)


# --------------------------------------------------------------------------------------------------
# Jacobian spectrum at the zero-input fixed point
# --------------------------------------------------------------------------------------------------
def _find_fixed_point(decoder: Decoder, n_iter: int) -> tuple[DecoderState, dict[str, Any]]:
    state = decoder.new_state()
    x0 = np.zeros((1, decoder.card.n_chans), dtype=np.float32)
    names = decoder.state_inputs
    prev = _flatten(state.arrays, names)[0].astype(np.float64)
    residual = math.inf
    converged = False
    iterations = 0
    for iterations in range(1, n_iter + 1):
        decoder.run(x0, state)
        cur = _flatten(state.arrays, names)[0].astype(np.float64)
        if not np.isfinite(cur).all():
            raise ModelError(
                f"model '{decoder.card.ref}': the zero-input state diverged to NaN/inf after {iterations} "
                f"samples; no fixed point to linearise around"
            )
        residual = float(np.max(np.abs(cur - prev) / np.maximum(1.0, np.abs(prev))))
        prev = cur
        if residual < FIXED_POINT_TOL:
            converged = True
            break
    info = {
        "converged": converged,
        "iterations": iterations,
        "residual": residual,
        "tolerance": FIXED_POINT_TOL,
        "residual_definition": "max over state entries of |s[t+1]-s[t]| / max(1, |s[t]|) at the last step",
        "state": {n: state.arrays[n][:, 0, :].astype(float).tolist() for n in names},
        "norm": float(np.linalg.norm(prev)),
    }
    return state, info


def _mode(lam: complex, dt_ms: float) -> dict[str, Any]:
    mag = abs(lam)
    angle = abs(math.atan2(lam.imag, lam.real))
    if lam.imag == 0.0 and lam.real >= 0.0:
        angle = 0.0
    period = None if angle == 0.0 else 2 * math.pi * dt_ms / angle
    return {
        "re": float(lam.real),
        "im": float(lam.imag),
        "abs": float(mag),
        "tau_ms": _json_float(_tau_ms(mag, dt_ms)),
        "period_ms": period,
        "frequency_hz": 0.0 if period is None else 1000.0 / period,
        "stable": bool(mag < 1.0),
    }


def jacobian_time_constants(entry: ModelEntry, n_iter: int = 2000) -> dict[str, Any]:
    """Memory modes of the model from the Jacobian of its zero-input state map, through onnxruntime.

    1. **Fixed point.** From the zero state (the decoder's reset state) the decoder is fed ``x = 0``
       one sample at a time with :meth:`Decoder.run` until the largest relative state change
       ``|s[t+1] - s[t]| / max(1, |s[t]|)`` is below ``1e-7``, or ``n_iter`` samples have passed.
    2. **Jacobian.** ``J = dF/ds`` of the one-step map ``s[t+1] = F(s[t], x=0)`` at that state, by
       central differences. All ``2 D`` perturbed states (``D`` = state size: every layer's ``h``,
       plus ``c`` for an LSTM) go through onnxruntime in *one* call, as one batch.
    3. **Spectrum.** For each eigenvalue ``λ`` of ``J``: ``|λ|``, ``τ = -Δt / ln|λ|`` (ms, ``Δt =
       1/sfreq``), oscillation period ``2π Δt / |arg λ|`` (ms) and frequency (Hz).

    Parameters
    ----------
    entry
        The model (from :meth:`ModelRegistry.get`, so its file has been verified).
    n_iter
        Maximum number of zero-input samples for the fixed-point search, ``>= 1``.

    Returns
    -------
    dict
        JSON-serialisable: ``dt_ms``; ``state_layout`` (which slice of the flat state vector is which
        array and layer); ``fixed_point`` (``converged``, ``iterations``, ``residual``, ``tolerance``,
        ``state`` per array ``[L][H]``, ``norm``); ``eps`` (relative FD step); ``jacobian`` (``[D][D]``,
        row = output, column = perturbed entry); ``spectral_radius``; ``n_unstable``; and ``modes``,
        one per eigenvalue sorted by ``τ`` descending, each with ``re``, ``im``, ``abs``, ``tau_ms``
        (``"inf"`` when ``|λ| >= 1``: that mode does not decay), ``period_ms`` (None for a positive
        real ``λ``; a negative real ``λ`` flips sign every sample: period ``2 Δt``, the Nyquist rate),
        ``frequency_hz`` (0 when there is no oscillation) and ``stable`` (``|λ| < 1``). Complex
        eigenvalues come in conjugate pairs; both members are listed.

    Raises
    ------
    ValueError
        If ``n_iter`` is not an integer ``>= 1``.
    ModelError
        If onnxruntime cannot load the model or the zero-input state becomes NaN/inf.

    Notes
    -----
    Finite-difference step: entry ``j`` is perturbed by ``±eps_j`` with ``eps_j = 1e-3 * max(1,
    |s*_j|)``. onnxruntime computes in float32, so each output carries a rounding error of about
    ``6e-8 |F|``; the central difference divides it by ``2 eps``, giving an error of ~``3e-5`` per
    Jacobian entry, while the truncation error ``eps² |F'''| / 6`` is ~``1e-7`` for tanh/sigmoid
    cells. Smaller steps amplify rounding, larger ones truncation; ``1e-3`` balances them. The step
    actually applied is measured after rounding the perturbed states to float32, so the
    representation error of ``s*_j ± eps_j`` does not bias the slope.

    The fixed point is the one reached from the reset state; a model can have others. When
    ``converged`` is false (slow modes with ``|λ|`` close to 1, or a limit cycle), the Jacobian is
    taken at the last state and describes the dynamics there.
    """
    _check_entry(entry)
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise ValueError(f"n_iter must be an integer >= 1, got {n_iter!r}")
    card = entry.card
    dt_ms = 1000.0 / card.sfreq
    decoder = Decoder(entry.onnx_path, card)
    state, fixed = _find_fixed_point(decoder, int(n_iter))
    s_star = _flatten(state.arrays, decoder.state_inputs)[0]
    d = s_star.size
    eps = FD_EPS * np.maximum(1.0, np.abs(s_star.astype(np.float64)))
    plus = np.repeat(s_star[None].astype(np.float64), d, axis=0)
    minus = plus.copy()
    idx = np.arange(d)
    plus[idx, idx] += eps
    minus[idx, idx] -= eps
    batch = np.concatenate([plus, minus]).astype(np.float32)
    step = (batch[idx, idx].astype(np.float64) - batch[d + idx, idx].astype(np.float64))  # actual 2*eps_j
    out = _step_batch(decoder, batch).astype(np.float64)
    jac = ((out[:d] - out[d:]) / step[:, None]).T  # J[i, j] = dF_i / ds_j
    if not np.isfinite(jac).all():
        raise ModelError(f"model '{card.ref}': the Jacobian at the zero-input fixed point is not finite")

    eig = np.linalg.eigvals(jac)
    modes = [_mode(complex(lam), dt_ms) for lam in eig]
    modes.sort(key=lambda m: (_from_json_float(m["tau_ms"]), m["abs"], m["im"]), reverse=True)
    return {
        "dt_ms": dt_ms,
        "state_layout": _state_layout(decoder),
        "fixed_point": fixed,
        "eps": FD_EPS,
        "jacobian": jac.tolist(),
        "spectral_radius": float(np.max(np.abs(eig))) if d else 0.0,
        "n_unstable": int(sum(not m["stable"] for m in modes)),
        "modes": modes,
    }


# --------------------------------------------------------------------------------------------------
# LSTM forget gates, by re-running the ONNX LSTM nodes in numpy
# --------------------------------------------------------------------------------------------------
_PASS_THROUGH = {"Squeeze", "Unsqueeze", "Transpose", "Identity", "Reshape", "Cast"}


def _graph_tensors(graph: Any) -> dict[str, np.ndarray]:
    """Every constant tensor of the graph: initializers and ``Constant`` node outputs."""
    from onnx import numpy_helper

    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    tensors[node.output[0]] = numpy_helper.to_array(attr.t)
    return tensors


def _lstm_layers(entry: ModelEntry) -> list[dict[str, np.ndarray]]:
    """Parse the ONNX ``LSTM`` nodes into per-layer numpy weights, in layer order.

    Each layer gets ``W [4H, in]``, ``R [4H, H]`` and ``b [4H]`` (``Wb + Rb``), gates in ONNX order
    ``i, o, f, c``. Anything outside the layout the exporter writes (one forward LSTM node per layer,
    default activations, no clip, no peepholes, layer ``k`` fed by layer ``k-1``'s ``Y``) is refused.
    """
    import onnx
    from onnx import helper

    ref = entry.card.ref
    arch = entry.card.architecture
    try:
        proto = onnx.load(str(entry.onnx_path))
    except Exception as exc:  # onnx raises several types for a corrupt file
        raise ModelError(f"model '{ref}': onnx cannot load {entry.onnx_path}: {exc}") from None
    graph = proto.graph
    tensors = _graph_tensors(graph)
    producer = {out: node for node in graph.node for out in node.output}
    lstm_nodes = [n for n in graph.node if n.op_type == "LSTM"]
    if len(lstm_nodes) != arch.n_layers:
        raise ModelError(
            f"model '{ref}': the ONNX graph must have one LSTM node per layer (n_layers={arch.n_layers}), "
            f"found {len(lstm_nodes)}"
        )

    def source(name: str) -> tuple[str, Any]:
        """Follow shape-only ops back to a graph input or an LSTM output."""
        seen = 0
        while name in producer and producer[name].op_type in _PASS_THROUGH and seen < 16:
            name = producer[name].input[0]
            seen += 1
        return name, producer.get(name)

    # order the layers: layer 0 reads the graph input x, layer k reads the Y output of layer k-1
    by_input: dict[str, Any] = {}
    for node in lstm_nodes:
        name, prod = source(node.input[0])
        key = "x" if prod is None and name == "x" else (prod.name if prod is not None and prod.op_type == "LSTM"
                                                        and prod.output[0] == name else None)
        if key is None or key in by_input:
            raise ModelError(
                f"model '{ref}': LSTM node {node.name!r} must read the input x or the Y output of one other "
                f"LSTM node (a stacked LSTM), but reads {name!r}"
            )
        by_input[key] = node
    ordered = []
    key = "x"
    while key in by_input:
        node = by_input.pop(key)
        ordered.append(node)
        key = node.name
    if len(ordered) != arch.n_layers:
        raise ModelError(
            f"model '{ref}': the LSTM nodes must form one chain of n_layers={arch.n_layers} layers, "
            f"found a chain of {len(ordered)}"
        )

    layers = []
    h = arch.hidden_size
    for k, node in enumerate(ordered):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        problems = []
        if attrs.get("hidden_size", h) != h:
            problems.append(f"hidden_size={attrs['hidden_size']} (card: {h})")
        direction = attrs.get("direction", b"forward")
        if (direction.decode() if isinstance(direction, bytes) else direction) != "forward":
            problems.append(f"direction={direction!r} (must be forward)")
        acts = [a.decode() if isinstance(a, bytes) else a for a in attrs.get("activations", [])]
        if acts and [a.lower() for a in acts] != ["sigmoid", "tanh", "tanh"]:
            problems.append(f"activations={acts} (must be Sigmoid, Tanh, Tanh)")
        for name in ("clip", "activation_alpha", "activation_beta"):
            if name in attrs:
                problems.append(f"{name} is set")
        if attrs.get("input_forget", 0) != 0:
            problems.append("input_forget=1 (coupled gates)")
        if attrs.get("layout", 0) != 0:
            problems.append(f"layout={attrs['layout']} (must be 0)")
        if len(node.input) > 4 and node.input[4]:
            problems.append("sequence_lens is given")
        if len(node.input) > 7 and node.input[7]:
            problems.append("peephole weights P are given")
        missing = [node.input[i] for i in (1, 2) if node.input[i] not in tensors]
        if missing:
            problems.append(f"weights {missing} are not constant tensors")
        if problems:
            raise ModelError(
                f"model '{ref}': LSTM layer {k} (node {node.name!r}) has a layout introspection does not "
                f"support: {'; '.join(problems)}"
            )
        w = tensors[node.input[1]].astype(np.float64)
        r = tensors[node.input[2]].astype(np.float64)
        n_in = arch.hidden_size if k else entry.card.n_chans
        if w.shape != (1, 4 * h, n_in) or r.shape != (1, 4 * h, h):
            raise ModelError(
                f"model '{ref}': LSTM layer {k} weights must have shapes W (1, {4 * h}, {n_in}) and "
                f"R (1, {4 * h}, {h}), got {w.shape} and {r.shape}"
            )
        if len(node.input) > 3 and node.input[3]:
            if node.input[3] not in tensors:
                raise ModelError(f"model '{ref}': LSTM layer {k} bias {node.input[3]!r} is not a constant tensor")
            b = tensors[node.input[3]].astype(np.float64)
            if b.shape != (1, 8 * h):
                raise ModelError(f"model '{ref}': LSTM layer {k} bias B must have shape (1, {8 * h}), got {b.shape}")
            bias = b[0, : 4 * h] + b[0, 4 * h :]
        else:
            bias = np.zeros(4 * h)
        layers.append({"W": w[0], "R": r[0], "b": bias})
    return layers


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _lstm_chunk(
    layers: list[dict[str, np.ndarray]], x: np.ndarray, h0: np.ndarray, c0: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the stacked ONNX LSTM over ``x [T, C]`` from ``h0, c0 [L, H]`` (float64).

    Returns the final ``h, c [L, H]`` and the forget-gate activations ``f [L, T, H]``.
    """
    n_t = x.shape[0]
    hsz = h0.shape[1]
    hn, cn = h0.copy(), c0.copy()
    forget = np.empty((len(layers), n_t, hsz))
    inp = x
    for k, layer in enumerate(layers):
        pre_in = inp @ layer["W"].T + layer["b"]  # [T, 4H], gates i, o, f, c
        h, c = hn[k].copy(), cn[k].copy()
        out = np.empty((n_t, hsz))
        r_t = layer["R"].T
        for t in range(n_t):
            z = pre_in[t] + h @ r_t
            i = _sigmoid(z[:hsz])
            o = _sigmoid(z[hsz : 2 * hsz])
            f = _sigmoid(z[2 * hsz : 3 * hsz])
            g = np.tanh(z[3 * hsz :])
            c = f * c + i * g
            h = o * np.tanh(c)
            forget[k, t] = f
            out[t] = h
        hn[k], cn[k] = h, c
        inp = out
    return hn, cn, forget


def _check_data(x: object, n_chans: int, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[1] != n_chans or arr.shape[0] < 1:
        raise ValueError(f"{name} must have shape (T >= 1, n_chans={n_chans}), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real numbers, got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got {int(np.size(arr) - np.isfinite(arr).sum())} NaN/inf values")
    return arr.astype(np.float32)


def lstm_forget_time_constants(entry: ModelEntry, x: np.ndarray) -> dict[str, Any]:
    """Per-unit memory time constants of an LSTM from its forget gates along the data ``x``.

    The ONNX ``LSTM`` nodes are re-run in numpy (float64) from the graph's initializers, to read the
    forget-gate activation ``f`` of every unit at every sample. Each unit's time constant is the median
    over time of ``τ = -Δt / ln f`` (ms). The numpy run is checked against onnxruntime: both start
    every chunk of 64 samples from onnxruntime's state, and the states ``h`` and ``c`` of every layer
    at the end of each chunk must agree to ``1e-4``.

    Parameters
    ----------
    entry
        An LSTM model (from :meth:`ModelRegistry.get`).
    x
        Input ``[T, C]`` already preprocessed (model units), finite.

    Returns
    -------
    dict
        JSON-serialisable: ``dt_ms``, ``n_samples``, ``check_max_abs_diff`` (numpy vs onnxruntime),
        ``check_tolerance``, and ``layers``: per layer ``tau_ms`` (per-unit median τ, ``"inf"`` when a
        unit's median gate rounds to 1), ``forget_mean`` (per-unit mean of ``f``) and
        ``tau_percentiles_ms`` (``{"p5": ..., ..., "p95": ...}`` over units).

    Raises
    ------
    ModelError
        If the model is not an LSTM, its graph layout is not the one the exporter writes, or the
        numpy recurrence does not reproduce onnxruntime.
    ValueError
        If ``x`` is not a finite ``[T >= 1, n_chans]`` array.
    """
    _check_entry(entry)
    card = entry.card
    if card.architecture.cell != "lstm":
        raise ModelError(
            f"model '{card.ref}': forget-gate time constants need an LSTM (architecture.cell 'lstm'), "
            f"got cell {card.architecture.cell!r}"
        )
    xs = _check_data(x, card.n_chans, "x")
    layers = _lstm_layers(entry)
    decoder = Decoder(entry.onnx_path, card)
    state = decoder.new_state()
    n_layers, hsz = card.architecture.n_layers, card.architecture.hidden_size
    forget = np.empty((n_layers, xs.shape[0], hsz))
    max_diff = 0.0
    for start in range(0, xs.shape[0], LSTM_CHECK_CHUNK):
        chunk = xs[start : start + LSTM_CHECK_CHUNK]
        h0 = state.arrays["h0"][:, 0, :].astype(np.float64)
        c0 = state.arrays["c0"][:, 0, :].astype(np.float64)
        hn, cn, f = _lstm_chunk(layers, chunk.astype(np.float64), h0, c0)
        decoder.run(chunk, state)
        diff = max(float(np.max(np.abs(hn - state.arrays["h0"][:, 0, :]))),
                   float(np.max(np.abs(cn - state.arrays["c0"][:, 0, :]))))
        max_diff = max(max_diff, diff)
        if not diff <= LSTM_CHECK_TOL:
            raise ModelError(
                f"model '{card.ref}': the numpy LSTM does not reproduce onnxruntime (max abs state difference "
                f"{diff:.3g} over samples {start}..{start + len(chunk) - 1}, tolerance {LSTM_CHECK_TOL:g}); "
                f"the graph's LSTM layout is not the one introspection expects"
            )
        forget[:, start : start + len(chunk)] = f

    dt_ms = 1000.0 / card.sfreq
    with np.errstate(divide="ignore"):
        tau = -dt_ms / np.log(np.clip(forget, 0.0, 1.0))  # f == 1 -> inf, f == 0 -> 0
    out_layers = []
    for k in range(n_layers):
        per_unit = np.median(tau[k], axis=0)
        pct = np.percentile(per_unit, PERCENTILES)
        out_layers.append({
            "layer": k,
            "tau_ms": [_json_float(v) for v in per_unit],
            "forget_mean": forget[k].mean(axis=0).tolist(),
            "tau_percentiles_ms": {f"p{p}": _json_float(v) for p, v in zip(PERCENTILES, pct)},
        })
    return {
        "dt_ms": dt_ms,
        "n_samples": int(xs.shape[0]),
        "check_max_abs_diff": max_diff,
        "check_tolerance": LSTM_CHECK_TOL,
        "layers": out_layers,
    }


# --------------------------------------------------------------------------------------------------
# report, table, figure, CLI
# --------------------------------------------------------------------------------------------------
def _default_data(entry: ModelEntry) -> np.ndarray:
    from bci_stream.signal.preprocess import Preprocessor
    from bci_stream.sim.eeg import SyntheticEEG

    card = entry.card
    if card.sfreq < 60:
        raise ValueError(
            f"data must be given for model '{card.ref}': the built-in simulator needs sfreq >= 60 Hz, "
            f"the model runs at {card.sfreq:g} Hz"
        )
    sim = SyntheticEEG(n_chans=card.n_chans, sfreq=card.sfreq, ch_names=card.ch_names, seed=0)
    raw = sim.generate(int(DEFAULT_DATA_S * card.sfreq))[0]
    return Preprocessor(card.preprocessing, card.n_chans, card.sfreq).process(raw)


def inspect_model(entry: ModelEntry, data: np.ndarray | None = None, out_dir: Path | None = None) -> dict[str, Any]:
    """Both analyses in one JSON-serialisable report; optionally ``report.json`` and ``time_constants.png``.

    Parameters
    ----------
    entry
        The model (from :meth:`ModelRegistry.get`).
    data
        Preprocessed input ``[T, C]`` (model units) for the LSTM forget-gate analysis. Ignored for a
        GRU. For an LSTM, None means 20 s of the built-in simulator (seed 0) on the card's channels,
        through the card's preprocessing.
    out_dir
        Folder to write ``report.json`` and ``time_constants.png`` into (created), or None.

    Returns
    -------
    dict
        ``model`` (name, version, sha256, cell, layers, hidden size, sfreq), ``jacobian`` (see
        :func:`jacobian_time_constants`), ``forget_gates`` (see :func:`lstm_forget_time_constants`;
        None for a GRU), ``data`` (where the LSTM input came from) and ``notes``. Infinite values are
        the string ``"inf"``, so ``json.dumps`` writes strict JSON.
    """
    _check_entry(entry)
    card = entry.card
    notes = [
        "Jacobian modes linearise the zero-input dynamics (x = 0 in model units, i.e. the training mean "
        "after preprocessing) around the fixed point reached from the reset state.",
        "tau_ms = -dt/ln|lambda|; 'inf' marks |lambda| >= 1 (no decay); period_ms is null for a positive "
        "real eigenvalue (no oscillation); complex eigenvalues appear as conjugate pairs.",
    ]
    report: dict[str, Any] = {
        "model": {
            "ref": card.ref, "name": card.name, "version": card.version, "sha256": card.sha256,
            "cell": card.architecture.cell, "n_layers": card.architecture.n_layers,
            "hidden_size": card.architecture.hidden_size, "sfreq": card.sfreq,
        },
        "jacobian": jacobian_time_constants(entry),
        "forget_gates": None,
        "data": None,
        "notes": notes,
    }
    if not report["jacobian"]["fixed_point"]["converged"]:
        notes.append("The zero-input fixed-point search did not converge; the Jacobian is taken at the last state.")
    if card.architecture.cell == "lstm":
        if data is None:
            data = _default_data(entry)
            report["data"] = f"simulated: SyntheticEEG seed 0, {DEFAULT_DATA_S:g} s, card preprocessing"
            if card.unit != "microvolts":
                notes.append(f"The simulator produces microvolts but the model's unit is {card.unit!r}; "
                             f"forget-gate statistics on simulated data may not be representative.")
        else:
            report["data"] = "given by the caller (preprocessed)"
        report["forget_gates"] = lstm_forget_time_constants(entry, data)
        notes.append("Forget-gate tau_ms = -dt/ln f per unit, median over the data; data-dependent.")
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "report.json").write_text(json.dumps(report, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        _plot(report, out_dir / "time_constants.png")
    return report


def _fmt(value: float | str | None, spec: str = "10.2f") -> str:
    width = int(spec.split(".")[0]) if spec[0].isdigit() else 10
    if value is None:
        return f"{'-':>{width}}"
    if value == _INF:
        return f"{'inf':>{width}}"
    return f"{value:{spec}}"


def format_table(report: dict[str, Any], top: int = 10) -> str:
    """Plain-text summary of an :func:`inspect_model` report: top eigenmodes and forget-gate τ.

    Each complex-conjugate pair is shown once (as ``|Im|``), so ``top`` rows are ``top`` distinct modes.
    """
    m = report["model"]
    jac = report["jacobian"]
    fp = jac["fixed_point"]
    lines = [
        f"model {m['ref']}  {m['cell'].upper()} L{m['n_layers']} H{m['hidden_size']}  "
        f"{m['sfreq']:g} Hz (dt {jac['dt_ms']:.3g} ms)  sha256 {m['sha256'][:12]}",
        f"zero-input fixed point: {'converged' if fp['converged'] else 'NOT converged'} after "
        f"{fp['iterations']} samples (residual {fp['residual']:.2g}, |s*| {fp['norm']:.3g}); "
        f"spectral radius {jac['spectral_radius']:.4f}, {jac['n_unstable']} mode(s) with |lambda| >= 1",
        "",
        f"Jacobian eigenmodes (top {top} by tau; conjugate pairs once)",
        f"{'#':>3} {'|lambda|':>10} {'tau ms':>10} {'period ms':>10} {'freq Hz':>10} {'Re':>9} {'|Im|':>9}",
    ]
    shown = [mode for mode in jac["modes"] if mode["im"] >= 0][:top]
    for i, mode in enumerate(shown, 1):
        lines.append(
            f"{i:>3} {mode['abs']:10.5f} {_fmt(mode['tau_ms'])} {_fmt(mode['period_ms'])} "
            f"{mode['frequency_hz']:10.2f} {mode['re']:9.4f} {abs(mode['im']):9.4f}"
        )
    fg = report.get("forget_gates")
    if fg:
        lines += [
            "",
            f"LSTM forget-gate tau per unit (median over {fg['n_samples']} samples; numpy vs onnxruntime "
            f"max diff {fg['check_max_abs_diff']:.2g}), percentiles over units, ms",
            f"{'layer':>5} " + " ".join(f"{'p' + str(p):>10}" for p in PERCENTILES),
        ]
        for layer in fg["layers"]:
            pct = layer["tau_percentiles_ms"]
            lines.append(f"{layer['layer']:>5} " + " ".join(_fmt(pct[f'p{p}']) for p in PERCENTILES))
    return "\n".join(lines) + "\n"


def _plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    jac = report["jacobian"]
    fg = report.get("forget_gates")
    n_panels = 3 if fg else 2
    fig = Figure(figsize=(5.0 * n_panels, 4.6), layout="constrained")
    axes = fig.subplots(1, n_panels)
    modes = jac["modes"]
    re = np.array([m["re"] for m in modes])
    im = np.array([m["im"] for m in modes])
    tau = np.array([_from_json_float(m["tau_ms"]) for m in modes])

    ax = axes[0]
    theta = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(theta), np.sin(theta), color="0.6", lw=1, label="unit circle")
    finite = np.isfinite(tau) & (tau > 0)
    if finite.any():
        sc = ax.scatter(re[finite], im[finite], c=np.log10(tau[finite]), cmap="viridis", s=22, zorder=3)
        fig.colorbar(sc, ax=ax, label="log10 tau (ms)")
    if (~finite).any():
        ax.scatter(re[~finite], im[~finite], marker="x", color="crimson", s=30, zorder=3, label="tau inf or 0")
    ax.axhline(0, color="0.85", lw=0.8)
    ax.axvline(0, color="0.85", lw=0.8)
    ax.set_aspect("equal")
    ax.set_xlabel("Re lambda")
    ax.set_ylabel("Im lambda")
    ax.set_title(f"Jacobian eigenvalues at the zero-input fixed point\n{report['model']['ref']}")
    ax.legend(loc="lower left", fontsize=8)

    def log_hist(ax: Any, values: np.ndarray, title: str, label: str | None = None) -> None:
        values = values[np.isfinite(values) & (values > 0)]
        if values.size:
            lo, hi = np.log10(values.min()), np.log10(values.max())
            bins = np.logspace(lo - 0.05, hi + 0.05, max(10, min(40, values.size)))
            ax.hist(values, bins=bins, alpha=0.7, label=label)
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("tau (ms)")
        ax.set_ylabel("count")
        ax.set_title(title)

    n_inf = int(np.sum(~np.isfinite(tau)))
    log_hist(axes[1], tau, f"Jacobian mode time constants ({n_inf} infinite not shown)" if n_inf
             else "Jacobian mode time constants")
    axes[1].axvline(jac["dt_ms"], color="0.5", ls="--", lw=1, label="dt")
    axes[1].legend(fontsize=8)
    if fg:
        for layer in fg["layers"]:
            vals = np.array([_from_json_float(v) for v in layer["tau_ms"]])
            log_hist(axes[2], vals, "LSTM forget-gate tau per unit (median over data)", f"layer {layer['layer']}")
        axes[2].legend(fontsize=8)
    fig.savefig(path, dpi=110)


def run_inspect(ref: str, models_dir: Path, out_dir: Path | None, echo: Callable[[str], Any] = print) -> int:
    """``bci-stream inspect MODEL``: print the table, write the files; return the exit code.

    Parameters
    ----------
    ref
        ``name`` or ``name@version`` in the registry.
    models_dir
        The registry folder.
    out_dir
        Where to write ``report.json`` and ``time_constants.png``, or None for the table only.
    echo
        Prints one string (``click.echo`` in the CLI).

    Returns
    -------
    int
        0 on success, 1 when the model cannot be loaded or analysed (the message is echoed).
    """
    try:
        entry = ModelRegistry(models_dir).get(ref)
        report = inspect_model(entry, out_dir=out_dir)
    except (BciStreamError, ValueError) as exc:
        echo(f"error: {exc}")
        return 1
    echo(format_table(report).rstrip("\n"))
    if out_dir is not None:
        echo(f"wrote {Path(out_dir) / 'report.json'} and {Path(out_dir) / 'time_constants.png'}")
    return 0
