"""Memory modes of a recurrent step graph: eigenvalues of its Jacobian at the silent-input fixed point.

With a silent input (raw ``x = 0``) the decoder is an autonomous dynamical system ``s[t+1] = F(s[t])``
on its full recurrent state ``s`` (every layer's ``h``, and ``c`` for an LSTM). The band-pass filter
state stays at rest (``zf = 0``: a zero first sample initialises it to zero and a zero input keeps it
there), so the network sees a constant input: the preprocessed value of a zero raw sample, i.e. the
constant offset of the standardisation (``-mean / std``; zero without standardisation). Near the fixed
point ``s*`` reached under that input, a perturbation evolves as ``J^t ds`` with ``J = dF/ds(s*)``, so
each eigenvalue ``λ`` of ``J`` is one memory mode: it decays by ``|λ|`` per sample, i.e. with time
constant ``τ = -Δt / ln|λ|``, and rotates by ``arg λ`` per sample, i.e. it oscillates with period
``2π Δt / |arg λ|``. This is the linearisation used to read trained RNNs as dynamical systems (fixed
points and their local spectra). Works for any cell; everything runs through onnxruntime
(:class:`~bci_stream.engine.step_model.StepModel`), not torch.

The flat state vector ``s`` is array-major (``h0`` then ``c0``), then layer, then unit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bci_stream.analysis.recurrent import check_entry, recurrent_step_model
from bci_stream.analysis.timeconst import decay_tau_ms, from_json_float, json_float
from bci_stream.engine.step_model import StepModel
from bci_stream.engine.stream_state import StreamState
from bci_stream.core.errors import ModelError, error_line
from bci_stream.core.registry import ModelEntry

__all__ = ["jacobian_time_constants"]

#: Fixed-point iteration stops when max |s[t+1] - s[t]| / max(1, |s[t]|) drops below this.
FIXED_POINT_TOL = 1e-7
#: Relative finite-difference step for the Jacobian (see :func:`jacobian_time_constants`).
FD_EPS = 1e-3


# --------------------------------------------------------------------------------------------------
# the silent-input state map on the flat recurrent state
# --------------------------------------------------------------------------------------------------
def _rest(model: StepModel) -> dict[str, np.ndarray]:
    """Every non-recurrent state (the filter state ``zf``) at rest: zeros, the state of a silent input."""
    return {s.name: np.zeros(s.shape, s.dtype) for s in model.spec.states if s.role != "recurrent"}


def _state_layout(names: list[str], n_layers: int, hidden: int) -> list[dict[str, Any]]:
    """Where each (array, layer) block sits in the flat state vector: array-major, then layer, then unit."""
    layout = []
    pos = 0
    for name in names:
        for layer in range(n_layers):
            layout.append({"array": name, "layer": layer, "start": pos, "stop": pos + hidden})
            pos += hidden
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


def _step_batch(model: StepModel, names: list[str], states: np.ndarray) -> np.ndarray:
    """One silent step (raw ``x = 0``, filter at rest) of ``B`` recurrent states at once: ``[B, D]`` -> ``[B, D]``.

    Each row becomes one :class:`StreamState` (recurrent arrays from the row, ``zf = 0``); the ``B``
    states go through :meth:`StepModel.step` in one onnxruntime call, stacked on the batch axis.
    """
    arch = model.card.architecture
    arrays = _unflatten(states, names, arch.n_layers, arch.hidden_size)
    rest = _rest(model)
    streams = []
    for b in range(states.shape[0]):
        st = model.new_state()
        st.restore({**rest, **{n: arrays[n][:, b : b + 1, :] for n in names}})
        streams.append(st)
    try:
        model.step(np.zeros((len(streams), 1, model.n_chans), dtype=np.float32), streams)
    except Exception as exc:  # noqa: BLE001 - onnxruntime's errors; before: inspect's traceback (audit s67eng F3)
        raise ModelError(f"model {model.card.ref}: its step graph fails stepping {len(streams)} states in one call "
                         f"(as inspect and a shared worker do): {error_line(exc)}; a recurrent state must be "
                         "[L, B, H], the batch B on its axis 1") from None
    return _flatten({n: np.concatenate([st.arrays[n] for st in streams], axis=1) for n in names}, names)


# --------------------------------------------------------------------------------------------------
# fixed point, Jacobian and its spectrum
# --------------------------------------------------------------------------------------------------
def _find_fixed_point(model: StepModel, names: list[str], n_iter: int) -> tuple[StreamState, dict[str, Any]]:
    """Feed zero raw samples from the reset state until the recurrent state settles (or ``n_iter`` samples).

    Returns the last state and the ``fixed_point`` block of the report (see :func:`jacobian_time_constants`).
    """
    state = model.new_state()
    x0 = np.zeros((1, model.n_chans), dtype=np.float32)
    prev = _flatten(state.arrays, names)[0].astype(np.float64)
    residual = math.inf
    converged = False
    iterations = 0
    for iterations in range(1, n_iter + 1):
        model.run(x0, state)  # the first (zero) sample initialises the filter state to zero: at rest
        cur = _flatten(state.arrays, names)[0].astype(np.float64)
        if not np.isfinite(cur).all():
            raise ModelError(
                f"model '{model.card.ref}': the state under a zero raw input diverged to NaN/inf after "
                f"{iterations} samples; no fixed point to linearise around"
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


def _silent_input(entry: ModelEntry) -> list[float]:
    """What the network sees for a zero raw sample: the card's preprocessing of one zero sample."""
    from bci_stream.dsp.preprocess import Preprocessor

    card = entry.card
    pre = Preprocessor(card.preprocessing, card.n_chans, card.sfreq)
    return pre.process(np.zeros((1, card.n_chans)))[0].astype(float).tolist()


def _mode(lam: complex, dt_ms: float) -> dict[str, Any]:
    """One eigenvalue ``λ`` as a memory mode: ``|λ|``, ``τ``, oscillation period and frequency (report form)."""
    mag = abs(lam)
    angle = abs(math.atan2(lam.imag, lam.real))
    if lam.imag == 0.0 and lam.real >= 0.0:
        angle = 0.0
    period = None if angle == 0.0 else 2 * math.pi * dt_ms / angle
    return {
        "re": float(lam.real),
        "im": float(lam.imag),
        "abs": float(mag),
        "tau_ms": json_float(decay_tau_ms(mag, dt_ms)),
        "period_ms": period,
        "frequency_hz": 0.0 if period is None else 1000.0 / period,
        "stable": bool(mag < 1.0),
    }


def jacobian_time_constants(entry: ModelEntry, n_iter: int = 2000) -> dict[str, Any]:
    """Memory modes of the model from the Jacobian of its silent-input state map, through onnxruntime.

    The model is its step graph (preprocessing + network) run by :class:`StepModel`. "Silent input"
    means raw ``x = 0`` with the band-pass filter state at rest (``zf = 0``): the filter then outputs
    0, and the network sees the constant preprocessed value of a zero sample, the offset of the
    standardisation ``-mean / std`` (0 without standardisation; CAR of zeros is zero). It is reported
    as ``input.preprocessed``. Note that this is generally *not* a zero network input.

    1. **Fixed point.** From the reset state (recurrent states zero; the filter state initialised by
       the first, zero, sample, i.e. zero) the model is fed ``x = 0`` one sample at a time with
       :meth:`StepModel.run` until the largest relative change of the recurrent state
       ``|s[t+1] - s[t]| / max(1, |s[t]|)`` is below ``1e-7``, or ``n_iter`` samples have passed.
    2. **Jacobian.** ``J = dF/ds`` of the one-step map ``s[t+1] = F(s[t], x=0, zf=0)`` at that state, by
       central differences. All ``2 D`` perturbed states (``D`` = recurrent state size: every layer's
       ``h``, plus ``c`` for an LSTM; the filter state is not part of ``s``, it stays at rest) go
       through onnxruntime in *one* :meth:`StepModel.step` call, as ``2 D`` streams stacked on the
       batch axis (axis 1 of each ``[L, B, H]`` state), each with ``zf = 0``.
    3. **Spectrum.** For each eigenvalue ``λ`` of ``J``: ``|λ|``, ``τ = -Δt / ln|λ|`` (ms, ``Δt =
       1/sfreq``), oscillation period ``2π Δt / |arg λ|`` (ms) and frequency (Hz).

    Parameters
    ----------
    entry
        The model (from :meth:`ModelRegistry.get`, so its file has been verified); a recurrent
        step graph (card format 2).
    n_iter
        Maximum number of zero-input samples for the fixed-point search, ``>= 1``.

    Returns
    -------
    dict
        JSON-serialisable: ``dt_ms``; ``input`` (``raw``: 0.0, and ``preprocessed``: the ``[C]`` values
        the network sees for a zero raw sample, from the card's preprocessing); ``state_layout`` (which
        slice of the flat state vector is which array and layer); ``fixed_point`` (``converged``,
        ``iterations``, ``residual``, ``tolerance``, ``state`` per array ``[L][H]``, ``norm``); ``eps``
        (relative FD step); ``jacobian`` (``[D][D]``, row = output, column = perturbed entry);
        ``spectral_radius``; ``n_unstable``; and ``modes``, one per eigenvalue sorted by ``τ``
        descending, each with ``re``, ``im``, ``abs``, ``tau_ms`` (``"inf"`` when ``|λ| >= 1``: that
        mode does not decay), ``period_ms`` (None for a positive real ``λ``; a negative real ``λ`` flips
        sign every sample: period ``2 Δt``, the Nyquist rate), ``frequency_hz`` (0 when there is no
        oscillation) and ``stable`` (``|λ| < 1``). Complex eigenvalues come in conjugate pairs; both
        members are listed.

    Raises
    ------
    ValueError
        If ``n_iter`` is not an integer ``>= 1``.
    ModelError
        If the model is not a recurrent step graph, onnxruntime cannot load it, or the state under a
        zero input becomes NaN/inf.

    Notes
    -----
    Finite-difference step: entry ``j`` is perturbed by ``±eps_j`` with ``eps_j = 1e-3 * max(1,
    |s*_j|)``. The recurrent state is float32 in the graph, so each output carries a rounding error of
    about ``6e-8 |F|``; the central difference divides it by ``2 eps``, giving an error of ~``3e-5`` per
    Jacobian entry, while the truncation error ``eps² |F'''| / 6`` is ~``1e-7`` for tanh/sigmoid
    cells. Smaller steps amplify rounding, larger ones truncation; ``1e-3`` balances them. The step
    actually applied is measured after rounding the perturbed states to float32, so the
    representation error of ``s*_j ± eps_j`` does not bias the slope.

    The fixed point is the one reached from the reset state; a model can have others. When
    ``converged`` is false (slow modes with ``|λ|`` close to 1, or a limit cycle), the Jacobian is
    taken at the last state and describes the dynamics there.
    """
    check_entry(entry)
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise ValueError(f"n_iter must be an integer >= 1, got {n_iter!r}")
    card = entry.card
    dt_ms = 1000.0 / card.sfreq
    model, recurrent = recurrent_step_model(entry)
    names = [s.name for s in recurrent]
    state, fixed = _find_fixed_point(model, names, int(n_iter))
    s_star = _flatten(state.arrays, names)[0]
    d = s_star.size
    eps = FD_EPS * np.maximum(1.0, np.abs(s_star.astype(np.float64)))
    plus = np.repeat(s_star[None].astype(np.float64), d, axis=0)
    minus = plus.copy()
    idx = np.arange(d)
    plus[idx, idx] += eps
    minus[idx, idx] -= eps
    batch = np.concatenate([plus, minus]).astype(np.float32)
    step = (batch[idx, idx].astype(np.float64) - batch[d + idx, idx].astype(np.float64))  # actual 2*eps_j
    out = _step_batch(model, names, batch).astype(np.float64)
    jac = ((out[:d] - out[d:]) / step[:, None]).T  # J[i, j] = dF_i / ds_j
    if not np.isfinite(jac).all():
        raise ModelError(f"model '{card.ref}': the Jacobian at the silent-input fixed point is not finite")

    eig = np.linalg.eigvals(jac)
    modes = [_mode(complex(lam), dt_ms) for lam in eig]
    modes.sort(key=lambda m: (from_json_float(m["tau_ms"]), m["abs"], m["im"]), reverse=True)
    arch = card.architecture
    return {
        "dt_ms": dt_ms,
        "input": {"raw": 0.0, "preprocessed": _silent_input(entry)},
        "state_layout": _state_layout(names, arch.n_layers, arch.hidden_size),
        "fixed_point": fixed,
        "eps": FD_EPS,
        "jacobian": jac.tolist(),
        "spectral_radius": float(np.max(np.abs(eig))) if d else 0.0,
        "n_unstable": int(sum(not m["stable"] for m in modes)),
        "modes": modes,
    }
