"""The streaming outputs of fitted parameters at chosen samples: what the fitter scores decisions with.

The streaming math itself is :mod:`bci_stream.train.classical.reference` (one implementation of each step);
this module applies it where the fitter needs it:

* :func:`running_cov_at` — the running covariance (:func:`~.reference.running_covariance_entries`) kept
  only at the requested samples, so memory stays small over long runs;
* :func:`outputs_from_preprocessed` / :func:`outputs_at` — class probabilities of a parameter set at
  selected samples, from preprocessed or raw data (each run streamed from its first sample, as online):
  the same numbers as the reference (and the exported step graph) at those samples.
"""

from __future__ import annotations

import numpy as np

from bci_stream.train.classical.params import CspLdaParams, RiemannParams
from bci_stream.train.classical.reference import (
    components,
    preprocess64,
    covariance_from_entries,
    readout,
    running_covariance_entries,
    running_log_power,
    smoothing_factor,
    tangent_vectors,
)


def running_cov_at(v: np.ndarray, a: float, init: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The running covariance ``S_t = a S_{t-1} + (1 - a) v_t v_t^T`` (``S_{-1} = init``) at samples ``at``.

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
    if not at.size:
        return np.empty((0, n, n))
    kept = None
    for start, entries in running_covariance_entries(v[:int(at.max()) + 1], a, init):
        if kept is None:
            kept = np.empty((at.size, entries.shape[1]))
        hit = (at >= start) & (at < start + len(entries))
        kept[hit] = entries[at[hit] - start]
    return covariance_from_entries(kept, init)


def outputs_from_preprocessed(params: CspLdaParams | RiemannParams, u: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Class probabilities ``[len(at), K]`` of either family at samples ``at`` of a preprocessed run ``u [T, C]``.

    ``u`` is :func:`~.reference.preprocess` of the whole run with ``params``' preprocessing and channels.
    """
    at = np.asarray(at)
    a = smoothing_factor(params.tau_s, params.sfreq)
    if isinstance(params, CspLdaParams):
        # the running power is needed only up to the last asked sample
        s = components(params, u[:int(np.max(at)) + 1])
        return readout(params, running_log_power(s, a, params.power_init)[at])
    s = running_cov_at(components(params, u), a, params.cov_init, at)
    return readout(params, tangent_vectors(s, params.shrinkage, params.ref_isqrt))


def outputs_at(params: CspLdaParams | RiemannParams, x: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Class probabilities ``[len(at), K]`` of either family on raw ``x [T, C]`` at samples ``at``."""
    return outputs_from_preprocessed(params, preprocess64(params, x), at)


__all__ = ["outputs_at", "outputs_from_preprocessed", "running_cov_at"]
