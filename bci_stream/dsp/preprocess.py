"""Causal, stateful preprocessing shared by the online pipeline and offline training.

One :class:`Preprocessor` processes a 1-sample chunk online and a whole recording offline with the same
result: filter state (``zi``) is carried between calls, so ``process(a); process(b)`` equals
``process(concat(a, b))`` (a test checks it).
"""

from __future__ import annotations

import numpy as np

from bci_stream.core.preprocessing import PreprocessingConfig


class Preprocessor:
    """Causal band-pass/notch (carried ``zi``) → common average reference → standardisation.

    Parameters
    ----------
    config
        The preprocessing configuration (usually from the model card).
    n_chans
        Number of channels of the input chunks ``x[T, n_chans]``.
    sfreq
        Sampling rate in Hz; filters are designed for it.

    Notes
    -----
    The filter state is initialised at the first sample as the steady state for a constant input
    equal to that sample (``sosfilt_zi * x[0]``), so a DC offset of the amplifier does not ring
    through the band-pass. Offline and online processing start the same way, so they agree.
    """

    def __init__(self, config: PreprocessingConfig, n_chans: int, sfreq: float) -> None:
        if n_chans < 1:
            raise ValueError(f"n_chans must be >= 1, got {n_chans}")
        if not sfreq > 0:
            raise ValueError(f"sfreq must be > 0, got {sfreq}")
        from scipy import signal as sps  # here, not at import: the service imports this module (NonFiniteGuard)
        # without ever filtering in Python, and scipy.signal costs ~70 MB of RSS in every process

        self.config = config
        self.n_chans = n_chans
        self.sfreq = float(sfreq)
        nyquist = self.sfreq / 2
        sections = []
        if config.bandpass is not None:
            if config.bandpass[1] >= nyquist:
                raise ValueError(
                    f"bandpass high cut-off must be below Nyquist ({nyquist} Hz at sfreq {sfreq}), "
                    f"got {config.bandpass[1]}"
                )
            sections.append(
                sps.butter(config.filter_order, config.bandpass, btype="bandpass", fs=self.sfreq, output="sos")
            )
        if config.notch is not None:
            if config.notch >= nyquist:
                raise ValueError(f"notch must be below Nyquist ({nyquist} Hz at sfreq {sfreq}), got {config.notch}")
            b, a = sps.iirnotch(config.notch, config.notch_q, fs=self.sfreq)
            sections.append(sps.tf2sos(b, a))
        self._sos = np.concatenate(sections) if sections else None
        self._zi_unit = sps.sosfilt_zi(self._sos)[:, :, None] if self._sos is not None else None
        self._zi: np.ndarray | None = None
        if self._sos is not None:
            self._ss = _sos_state_space(self._sos)
            self._z_next = np.empty((2 * len(self._sos), n_chans))
        for stat_name in ("mean", "std"):
            stat = getattr(config, stat_name)
            if stat is not None and len(stat) != n_chans:
                raise ValueError(f"preprocessing {stat_name} must have n_chans={n_chans} values, got {len(stat)}")
        self._mean = np.asarray(config.mean, dtype=np.float64) if config.mean is not None else None
        self._inv_std = 1.0 / np.asarray(config.std, dtype=np.float64) if config.std is not None else None
        # CAR and standardisation are affine: out = y @ spatial + offset, one matmul per chunk.
        spatial = np.eye(n_chans) - (1.0 / n_chans if config.car else 0.0)
        offset = np.zeros(n_chans)
        if self._mean is not None:
            spatial = spatial * self._inv_std
            offset = -self._mean * self._inv_std
        self._spatial = None if (not config.car and self._mean is None) else spatial
        self._offset = offset

    def reset(self) -> None:
        """Forget the filter state; the next sample re-initialises it."""
        self._zi = None

    # Read access to the pieces, for the step graph written at export (export/step_graph.py).

    @property
    def sos(self) -> np.ndarray | None:
        """The SOS cascade ``[n_sections, 6]`` (band-pass sections, then notch), or None without a filter."""
        return self._sos

    @property
    def state_space(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
        """``(A, B, C, D)`` of the cascade, state = ``zi.reshape(2 * n_sections, n_chans)``; None without a filter."""
        return self._ss if self._sos is not None else None

    @property
    def affine(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(spatial [C, C], offset [C])`` of CAR + standardisation (``out = y @ spatial + offset``), or None."""
        return None if self._spatial is None else (self._spatial, self._offset)

    def process(self, x: np.ndarray) -> np.ndarray:
        """Process a chunk ``x[T, n_chans]`` (any T ≥ 0) and return float32 ``[T, n_chans]``.

        A single sample takes a state-space step (two small matrix products on the filter state);
        longer chunks go through ``scipy.signal.sosfilt``. Both update the same state ``zi``.
        """
        if x.ndim != 2 or x.shape[1] != self.n_chans:
            raise ValueError(f"x must have shape (T, n_chans={self.n_chans}), got {x.shape}")
        if len(x) == 0:
            return np.empty((0, self.n_chans), dtype=np.float32)
        if self._sos is not None:
            if self._zi is None:
                self._zi = self._zi_unit * x[0].astype(np.float64)
            if len(x) == 1:
                y = self._step(x)
            else:
                from scipy.signal import sosfilt

                y, self._zi = sosfilt(self._sos, x.astype(np.float64), axis=0, zi=self._zi)
        else:
            y = x.astype(np.float64)
        if self._spatial is not None:
            y = y @ self._spatial
            y += self._offset
        return y.astype(np.float32)

    def _step(self, x: np.ndarray) -> np.ndarray:
        """One sample through the SOS cascade as ``y = C z + D x``, ``z' = A z + B x`` (z is ``zi``)."""
        a, b, c, d = self._ss
        z = self._zi.reshape(len(b), self.n_chans)  # a view: (n_sections, 2, C) -> (2 n_sections, C)
        xs = x.astype(np.float64)  # [1, C]
        y = c @ z  # [1, C]
        y += d * xs
        np.matmul(a, z, out=self._z_next)
        self._z_next += b * xs
        z[...] = self._z_next
        return y


def _sos_state_space(sos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """State-space ``(A, B, C, D)`` of an SOS cascade in scipy's direct form II transposed.

    The state vector is scipy's ``zi`` flattened section by section (``zi.reshape(2 * n_sections, -1)``),
    so a state-space step and ``sosfilt`` carry on from each other exactly.
    """
    n = 2 * len(sos)

    def step(z: np.ndarray, x: float) -> tuple[np.ndarray, float]:
        z_new, u = np.empty(n), x
        for k, (b0, b1, b2, _, a1, a2) in enumerate(sos):
            y = b0 * u + z[2 * k]
            z_new[2 * k] = b1 * u - a1 * y + z[2 * k + 1]
            z_new[2 * k + 1] = b2 * u - a2 * y
            u = y
        return z_new, u

    zero = np.zeros(n)
    b_vec, d = step(zero, 1.0)
    a_mat, c_vec = np.empty((n, n)), np.empty(n)
    for j in range(n):
        a_mat[:, j], c_vec[j] = step(np.eye(n)[j], 0.0)
    return a_mat, b_vec[:, None], c_vec[None, :], d


class NonFiniteGuard:
    """Replace NaN/inf samples before they reach stateful filters and the recurrent state.

    A single NaN entering an IIR filter or a GRU poisons its state for ever, so non-finite values are
    handled before preprocessing, per channel, by a policy:

    * ``"hold"``: repeat the channel's last finite value (0 before any finite value);
    * ``"zero"``: replace by 0.

    A finite value beyond :attr:`limit` (per channel, the stream's unit: :data:`~bci_stream.core.units.MAX_INPUT_V`,
    which no EEG input reaches) is a corrupt sample and handled the same way.

    Every replaced value is counted in :attr:`n_replaced`; chunks that contained any in
    :attr:`n_chunks_affected`.
    """

    POLICIES = ("hold", "zero")

    def __init__(self, n_chans: int, policy: str = "hold") -> None:
        if policy not in self.POLICIES:
            raise ValueError(f"nan_policy must be one of {self.POLICIES}, got {policy!r}")
        self.policy = policy
        self._last = np.zeros(n_chans, dtype=np.float32)
        self.n_replaced = 0
        self.n_chunks_affected = 0
        self.last_bad: np.ndarray | None = None  # [T, C] True where the last chunk was not finite; None: all were
        self.limit: np.ndarray | None = None  # [C] float32: |x| beyond it counts as not finite (None: no bound)

    def resized(self, n_chans: int) -> NonFiniteGuard:
        """The same policy and counts for ``n_chans`` channels (a hot swap to a model reading other channels)."""
        guard = NonFiniteGuard(n_chans, self.policy)
        guard.n_replaced, guard.n_chunks_affected = self.n_replaced, self.n_chunks_affected
        return guard

    def ok(self, x: np.ndarray) -> np.ndarray:
        """``[T, C]``: True where ``x`` is finite and within :attr:`limit` (one comparison: NaN compares False)."""
        return np.isfinite(x) if self.limit is None else np.abs(x) <= self.limit

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Return ``x`` (modified in place) with non-finite values replaced; ``x`` is ``[T, C]``."""
        self.last_bad = None
        ok = self.ok(x)
        if not ok.all():
            self.last_bad = bad = ~ok
            self.n_replaced += int(bad.sum())
            self.n_chunks_affected += 1
            if self.policy == "zero":
                x[bad] = 0.0
            else:
                for t in np.flatnonzero(bad.any(axis=1)):
                    row_bad = bad[t]
                    x[t, row_bad] = self._last[row_bad] if t == 0 else x[t - 1, row_bad]
        if len(x):
            self._last[:] = x[-1]
        return x
