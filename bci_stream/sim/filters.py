"""Spectral shaping of white noise for the synthetic EEG: the pinking filter and the rhythm band-passes.

:class:`NoiseFilterBank` turns one block of white noise into every noise process the simulator mixes
(pink background, alpha rhythm, its slow amplitude envelope, mu and beta rhythms). Its IIR filters
(second-order sections) carry their state from block to block, so filtering a long noise sequence in
any chunks gives the same output, bit for bit, as filtering it at once.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from bci_stream.sim.sources import PINK_PSD_AT_10HZ

__all__ = ["unit_variance_sos", "pink_sos", "NoiseFilterBank"]


def unit_variance_sos(sos: np.ndarray, sfreq: float, seconds: float = 40.0) -> np.ndarray:
    """Scale ``sos`` so that unit-variance white noise in gives unit variance out."""
    n = max(int(math.ceil(seconds * sfreq)), 64)
    impulse = np.zeros(n)
    impulse[0] = 1.0
    energy = float(np.sum(signal.sosfilt(sos, impulse) ** 2))
    out = np.array(sos, dtype=float, copy=True)
    out[0, :3] /= math.sqrt(energy)
    return out


def pink_sos(sfreq: float) -> np.ndarray:
    """Pinking filter: alternating real poles/zeros, log-spaced from 0.2 Hz to 0.45*sfreq.

    Average slope is -10 dB/decade (power ~ 1/f). Corner frequencies are pre-warped
    for the bilinear transform so the shape is right up to near Nyquist. The gain is
    normalised so that unit-variance white input gives a one-sided PSD of
    ``PINK_PSD_AT_10HZ`` uV^2/Hz at 10 Hz.
    """
    f_lo, f_top = 0.2, 0.45 * sfreq
    n_pairs = max(1, math.ceil(math.log(f_top / f_lo) / math.log(4.0) + 0.5))
    ratio = (f_top / f_lo) ** (1.0 / (n_pairs - 0.5))
    poles_hz = f_lo * ratio ** np.arange(n_pairs)
    zeros_hz = poles_hz * math.sqrt(ratio)

    def warp(f: np.ndarray) -> np.ndarray:  # analog rad/s that map to f after bilinear
        return 2.0 * sfreq * np.tan(np.pi * f / sfreq)

    z, p, k = signal.bilinear_zpk(-warp(zeros_hz), -warp(poles_hz), 1.0, sfreq)
    sos = signal.zpk2sos(z, p, k)
    _, h = signal.sosfreqz(sos, worN=[10.0], fs=sfreq)
    # white noise with unit variance has one-sided PSD 2/sfreq
    gain = math.sqrt(PINK_PSD_AT_10HZ / (abs(h[0]) ** 2 * 2.0 / sfreq))
    sos[0, :3] *= gain
    return sos


class NoiseFilterBank:
    """Stateful filters from white noise to the simulator's noise processes.

    Each call of :meth:`filter` takes one block of white noise with :attr:`n_noise` columns, laid out
    as ``C + 1`` pink columns (one per channel, then the shared volume-conducted component), 2 alpha
    (O1, O2), 1 envelope, 3 mu and 3 beta (C3, C4, Cz). Outputs have unit variance, except the pink
    columns, which are in microvolts (:func:`pink_sos`).

    Parameters
    ----------
    n_chans : int
        Number of channels ``C``.
    sfreq : float
        Sampling rate in Hz (the beta band, 20-24 Hz, must lie below Nyquist).
    """

    def __init__(self, n_chans: int, sfreq: float) -> None:
        C = n_chans
        self._n_chans = n_chans
        self._sos_pink = pink_sos(sfreq)
        self._sos_alpha = unit_variance_sos(
            signal.butter(2, [9.0, 11.0], btype="bandpass", fs=sfreq, output="sos"), sfreq
        )
        self._sos_env = unit_variance_sos(
            signal.butter(1, 0.1, btype="lowpass", fs=sfreq, output="sos"), sfreq
        )
        self._sos_mu = unit_variance_sos(
            signal.butter(2, [10.0, 12.0], btype="bandpass", fs=sfreq, output="sos"), sfreq
        )
        self._sos_beta = unit_variance_sos(
            signal.butter(2, [20.0, 24.0], btype="bandpass", fs=sfreq, output="sos"), sfreq
        )
        #: White-noise columns per sample: C independent + 1 shared + 2 alpha + 1 env + 3 mu + 3 beta.
        self.n_noise = C + 1 + 2 + 1 + 3 + 3
        self._zi = {
            "pink": np.zeros((self._sos_pink.shape[0], 2, C + 1)),
            "alpha": np.zeros((self._sos_alpha.shape[0], 2, 2)),
            "env": np.zeros((self._sos_env.shape[0], 2, 1)),
            "mu": np.zeros((self._sos_mu.shape[0], 2, 3)),
            "beta": np.zeros((self._sos_beta.shape[0], 2, 3)),
        }

    def filter(self, w: np.ndarray) -> tuple[np.ndarray, ...]:
        """Run the stateful filters over one block of white noise.

        Parameters
        ----------
        w : ndarray, shape (n, n_noise)
            White noise, columns as described in the class docstring.

        Returns
        -------
        pink, alpha, env, mu, beta : ndarray
            Shapes ``(n, C + 1)``, ``(n, 2)``, ``(n, 1)``, ``(n, 3)``, ``(n, 3)``.
        """
        C = self._n_chans
        zi = self._zi
        pink, zi["pink"] = signal.sosfilt(self._sos_pink, w[:, : C + 1], axis=0, zi=zi["pink"])
        i = C + 1
        alpha, zi["alpha"] = signal.sosfilt(self._sos_alpha, w[:, i : i + 2], axis=0, zi=zi["alpha"])
        i += 2
        env, zi["env"] = signal.sosfilt(self._sos_env, w[:, i : i + 1], axis=0, zi=zi["env"])
        i += 1
        mu, zi["mu"] = signal.sosfilt(self._sos_mu, w[:, i : i + 3], axis=0, zi=zi["mu"])
        i += 3
        beta, zi["beta"] = signal.sosfilt(self._sos_beta, w[:, i : i + 3], axis=0, zi=zi["beta"])
        return pink, alpha, env, mu, beta
