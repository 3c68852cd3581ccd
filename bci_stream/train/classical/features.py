"""Vectorised causal features of the streaming classical decoders, exactly as the step graphs compute them.

Everything here follows :mod:`bci_stream.train.classical.params` to the letter, but over a whole run at
once (the running estimators run continuously from the first sample of each run, as online):

* :func:`preprocess` — the card's causal band-pass (state initialised at the first sample) and CAR, float64;
* :func:`running_power` / :func:`running_cov_at` — the exponential running power / covariance with time
  constant ``tau_s``; the covariance is returned only at the requested samples (memory stays small);
* :func:`tangent_vectors` — shrinkage, whitening by ``ref_isqrt``, ``logm``, pyriemann's upper triangle;
* :func:`csp_lda_outputs` / :func:`riemann_outputs` — class probabilities of a parameter set on raw data
  ``x[T, C]`` at all (or selected) samples: the offline twin of the exported ONNX step graph.

Also the helpers every classical tool shares: where the real data is (:func:`data_root`, env
``BCI_STREAM_DATA``), the sensorimotor channel subset for any naming (:func:`sensorimotor_channels`), and
the cue trials of a recording (:class:`Trials`, :func:`trials_of`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal as sps

from bci_stream.data.channels import ch_name_key, normalise_ch_name
from bci_stream.signal.preprocess import PreprocessingConfig, Preprocessor
from bci_stream.train.classical.params import CspLdaParams, RiemannParams

DATA_ENV = "BCI_STREAM_DATA"

# The FC, C and CP rows of the 10-10 system (odd = left, z = midline, even = right), and the temporal
# neighbours of C5/C6 rows. Present in any cap that follows 10-10 naming, whatever its spelling.
SENSORIMOTOR_10_10: tuple[str, ...] = (
    "FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6",
    "C5", "C3", "C1", "Cz", "C2", "C4", "C6",
    "CP5", "CP3", "CP1", "CPz", "CP2", "CP4", "CP6",
)
# Fewer than this many of the names above present: the cap is not 10-10 (or too sparse); use all channels.
MIN_SENSORIMOTOR = 6


def data_root() -> Path:
    """The shared real-EEG folder: env ``BCI_STREAM_DATA``, else ``../shared/data`` beside the checkout."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[4] / "shared" / "data"


def sensorimotor_channels(ch_names: Sequence[str]) -> list[str] | None:
    """The channels of ``ch_names`` (file spelling, file order) on the 10-10 FC/C/CP rows, or None.

    Names are compared after normalising (``"Fc5."`` ≡ ``"FC5"`` ≡ ``"fc5"``, ``"EEG C3"`` ≡ ``"C3"``).
    None when fewer than :data:`MIN_SENSORIMOTOR` of them are present (not a 10-10 montage): callers
    then use all channels.
    """
    wanted = {ch_name_key(n) for n in SENSORIMOTOR_10_10}
    picked = [n for n in ch_names if ch_name_key(n) in wanted]
    return picked if len(picked) >= MIN_SENSORIMOTOR else None


def display_names(ch_names: Sequence[str]) -> list[str]:
    """Normalised spellings (``"Fc5."`` → ``"FC5"``), for reports."""
    return [normalise_ch_name(n) for n in ch_names]


# --- trials ---------------------------------------------------------------------------------------------


@dataclass
class Trials:
    """Cue onsets of one recording and their classes.

    Attributes
    ----------
    onsets
        ``[n_trials]`` int, onset samples of the cues.
    classes
        ``[n_trials]`` int, index into the class names.
    """

    onsets: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return int(self.onsets.size)


def trials_of(events: Sequence, label_map: Mapping[str, str | None], labels: Sequence[str], n_times: int,
              sfreq: float, min_after_s: float = 0.0) -> Trials:
    """The cues of ``events`` that ``label_map`` maps to a class of ``labels``.

    Cues whose onset + ``min_after_s`` lies beyond the recording are dropped (the decision sample must
    exist).
    """
    onsets, classes = [], []
    limit = n_times - int(round(min_after_s * sfreq))
    for ev in sorted(events, key=lambda e: e.onset):
        name = label_map.get(str(ev.description))
        if name is None or ev.onset >= limit or ev.onset < 0:
            continue
        onsets.append(int(ev.onset))
        classes.append(labels.index(name))
    return Trials(np.asarray(onsets, dtype=np.int64), np.asarray(classes, dtype=np.int64))


# --- the streaming computation --------------------------------------------------------------------------


def decay(tau_s: float, sfreq: float) -> float:
    """``a = exp(-1 / (tau_s * sfreq))`` of the running estimators."""
    if not tau_s > 0:
        raise ValueError(f"tau_s must be > 0 seconds, got {tau_s}")
    return float(np.exp(-1.0 / (tau_s * sfreq)))


def preprocess(x: np.ndarray, sfreq: float, config: PreprocessingConfig) -> np.ndarray:
    """Causal preprocessing of a whole run ``x[T, C]`` (raw µV) → float64 ``[T, C]``.

    The same filter and CAR as :class:`~bci_stream.signal.preprocess.Preprocessor` (state initialised as
    the steady state for the first sample), but kept in float64 as the step graphs compute it.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D [T, n_chans], got shape {x.shape}")
    pre = Preprocessor(config, x.shape[1], sfreq)
    y = x
    if pre.sos is not None and len(x):
        zi = sps.sosfilt_zi(pre.sos)[:, :, None] * x[0]
        y, _ = sps.sosfilt(pre.sos, x, axis=0, zi=zi)
    if pre.affine is not None:
        spatial, offset = pre.affine
        y = y @ spatial + offset
    return y


def running_power(s: np.ndarray, a: float, init: np.ndarray) -> np.ndarray:
    """``p_t = a p_{t-1} + (1 - a) s_t**2`` over ``s[T, m]`` with ``p_{-1} = init``; returns ``[T, m]``."""
    init = np.asarray(init, dtype=np.float64)
    return sps.lfilter([1.0 - a], [1.0, -a], s * s, axis=0, zi=(a * init)[None, :])[0]


def _triu(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n)


def running_cov_at(v: np.ndarray, a: float, init: np.ndarray, at: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """The running covariance ``S_t = a S_{t-1} + (1 - a) v_t v_tᵀ`` (``S_{-1} = init``) at samples ``at``.

    Parameters
    ----------
    v
        ``[T, n]`` projected, preprocessed samples of one whole run.
    a
        Decay per sample.
    init
        ``[n, n]`` state before the first sample.
    at
        Sample indices (any order, repeats allowed) where ``S_t`` is wanted.

    Returns
    -------
    ``[len(at), n, n]`` float64.
    """
    at = np.asarray(at, dtype=np.int64)
    n_t, n = v.shape
    if at.size and (at.min() < 0 or at.max() >= n_t):
        raise ValueError(f"at must index samples 0..{n_t - 1}, got range {at.min()}..{at.max()}")
    iu, ju = _triu(n)
    out_flat = np.empty((at.size, iu.size))
    order = np.argsort(at, kind="stable")
    sorted_at = at[order]
    zi = (a * np.asarray(init, dtype=np.float64)[iu, ju])[None, :]
    pos = 0
    for start in range(0, n_t, chunk):
        stop = min(start + chunk, n_t)
        prod = v[start:stop, iu] * v[start:stop, ju]
        s_flat, zi = sps.lfilter([1.0 - a], [1.0, -a], prod, axis=0, zi=zi)
        end = np.searchsorted(sorted_at, stop, side="left")
        if end > pos:
            out_flat[order[pos:end]] = s_flat[sorted_at[pos:end] - start]
            pos = end
        if pos >= at.size:
            break
    out = np.empty((at.size, n, n))
    out[:, iu, ju] = out_flat
    out[:, ju, iu] = out_flat
    return out


def shrink(s: np.ndarray, shrinkage: float) -> np.ndarray:
    """``(1 - shrinkage) S + shrinkage trace(S) / n I`` for ``S[..., n, n]``."""
    n = s.shape[-1]
    tr = np.trace(s, axis1=-2, axis2=-1)[..., None, None]
    return (1.0 - shrinkage) * s + shrinkage * tr / n * np.eye(n)


def upper_vector(m: np.ndarray) -> np.ndarray:
    """pyriemann's tangent vector of symmetric ``m[..., n, n]``: upper triangle, off-diagonals × √2."""
    n = m.shape[-1]
    iu, ju = _triu(n)
    coeffs = np.where(iu == ju, 1.0, np.sqrt(2.0))
    return m[..., iu, ju] * coeffs


def _sym_fun(m: np.ndarray, fun) -> np.ndarray:
    w, u = np.linalg.eigh(m)
    return (u * fun(w)[..., None, :]) @ np.swapaxes(u, -1, -2)


def logm_spd(m: np.ndarray) -> np.ndarray:
    """Matrix logarithm of SPD ``m[..., n, n]`` (eigenvalues clipped at 1e-300)."""
    return _sym_fun(m, lambda w: np.log(np.maximum(w, 1e-300)))


def expm_sym(m: np.ndarray) -> np.ndarray:
    return _sym_fun(m, np.exp)


def powm_spd(m: np.ndarray, p: float) -> np.ndarray:
    return _sym_fun(m, lambda w: np.maximum(w, 1e-300) ** p)


def tangent_vectors(s: np.ndarray, shrinkage: float, ref_isqrt: np.ndarray) -> np.ndarray:
    """Tangent-space features of running covariances ``s[N, n, n]``: shrink, whiten, logm, upper vector."""
    r = shrink(s, shrinkage)
    return upper_vector(logm_spd(ref_isqrt @ r @ ref_isqrt))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def csp_log_power(params: CspLdaParams, x: np.ndarray) -> np.ndarray:
    """``log p_t`` ``[T, m]`` of :class:`CspLdaParams` on raw ``x[T, C]`` (a whole run from its first sample)."""
    u = preprocess(x, params.sfreq, params.preprocessing)
    p = running_power(u @ params.filters, decay(params.tau_s, params.sfreq), params.power_init)
    return np.log(p)


def csp_lda_outputs(params: CspLdaParams, x: np.ndarray) -> np.ndarray:
    """Class probabilities ``[T, K]`` of the streaming CSP+LDA decoder on raw ``x[T, C]``."""
    return softmax(csp_log_power(params, x) @ params.coef.T + params.intercept)


def riemann_features(params: RiemannParams, x: np.ndarray, at: np.ndarray | None = None) -> np.ndarray:
    """Tangent vectors ``[len(at), n (n + 1) / 2]`` of :class:`RiemannParams` on raw ``x[T, C]`` at samples ``at``
    (all samples when None)."""
    u = preprocess(x, params.sfreq, params.preprocessing)
    v = u if params.projection is None else u @ params.projection
    at = np.arange(len(v)) if at is None else np.asarray(at)
    s = running_cov_at(v, decay(params.tau_s, params.sfreq), params.cov_init, at)
    return tangent_vectors(s, params.shrinkage, params.ref_isqrt)


def riemann_outputs(params: RiemannParams, x: np.ndarray, at: np.ndarray | None = None) -> np.ndarray:
    """Class probabilities ``[len(at), K]`` of the streaming Riemann decoder on raw ``x[T, C]``."""
    return softmax(riemann_features(params, x, at) @ params.coef.T + params.intercept)


def outputs_at(params: CspLdaParams | RiemannParams, x: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Class probabilities ``[len(at), K]`` of either family on raw ``x[T, C]`` at samples ``at``."""
    if isinstance(params, CspLdaParams):
        return csp_lda_outputs(params, x)[np.asarray(at)]
    return riemann_outputs(params, x, at)


__all__ = [
    "DATA_ENV", "SENSORIMOTOR_10_10", "Trials", "csp_lda_outputs", "csp_log_power", "data_root", "decay",
    "display_names", "logm_spd", "outputs_at", "powm_spd", "preprocess", "riemann_features", "riemann_outputs",
    "running_cov_at", "running_power", "sensorimotor_channels", "shrink", "softmax", "tangent_vectors",
    "trials_of", "upper_vector",
]
