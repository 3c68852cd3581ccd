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
            if (width := config.notch / config.notch_q) >= nyquist:  # scipy's design is unstable or no notch there
                raise ValueError(f"notch_q must be above notch / Nyquist = {config.notch / nyquist:.3g} (a notch "
                                 f"{width:.3g} Hz wide at {config.notch:g} Hz, beyond Nyquist {nyquist:g} Hz: an "
                                 f"unstable filter), got {config.notch_q:g}; line noise takes ~30")
            b, a = sps.iirnotch(config.notch, config.notch_q, fs=self.sfreq)
            sections.append(sps.tf2sos(b, a))
        if config.car and n_chans < 2:  # (audit s69dsp F3: upgraded, or trained on zeros / "flat" data)
            raise ValueError(f"car must be false for {n_chans} channel: a common average reference of one channel is "
                             "zero")
        self._sos = np.concatenate(sections) if sections else None
        if self._sos is not None and np.abs(np.concatenate([np.roots(sec[3:]) for sec in self._sos])).max() >= 1:
            raise ValueError(f"bandpass {config.bandpass} and notch {config.notch} at sfreq {sfreq} give an unstable "
                             "filter (a pole on or outside the unit circle): raise the band's low edge")
        try:
            self._zi_unit = sps.sosfilt_zi(self._sos)[:, :, None] if self._sos is not None else None
        except np.linalg.LinAlgError:  # (audit s69dsp F4: 'Singular matrix' of a band from 1e-6 Hz)
            low = config.bandpass[0] if config.bandpass else None
            raise ValueError(f"bandpass low edge {low} Hz is too close to 0 at sfreq {sfreq} (the filter's steady "
                             "state cannot be computed): raise it, e.g. to 0.1 Hz") from None
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

    * ``"hold"``: repeat the channel's last finite value. Before its first finite value a channel is held at that first
      value where the same chunk holds it (a NaN first sample: the filters start from the channel's level, not from 0);
      where no chunk has yet, at 0, and once its first finite value comes :attr:`first_finite` names it, so that the
      caller starts its filters afresh from that value
      (:meth:`~bci_stream.engine.stream_state.StreamState.init_channels`): on a DC-coupled stream (electrode offsets
      of tens of mV) a held 0 would be a step of the offset's size.
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
        self._unseen = np.ones(n_chans, dtype=bool)  # no finite value of the channel yet
        self._placeheld = np.zeros(n_chans, dtype=bool)  # unseen and held at 0 (a stand-in) in a chunk before
        self._some_unseen = policy == "hold" and n_chans > 0
        self.n_replaced = 0
        self.n_chunks_affected = 0
        self.last_bad: np.ndarray | None = None  # [T, C] True where the last chunk was not finite; None: all were
        self.last_replaced = 0  # values replaced in the last chunk
        self.last_beyond = 0  # of them, the finite values beyond :attr:`limit` (a unit mislabel's cue)
        self.limit: np.ndarray | None = None  # [C] float32: |x| beyond it counts as not finite (None: no bound)
        #: ``(channels, values)``: the channels held at the 0 stand-in before the last chunk that got their first
        #: finite value in it (held at it from the chunk's start), None: none
        self.first_finite: tuple[np.ndarray, np.ndarray] | None = None

    def remapped(self, n_chans: int, old_idx: np.ndarray | None, new_idx: np.ndarray | None) -> NonFiniteGuard:
        """The same policy and counts for a model reading stream channels ``new_idx`` (None: the first ``n_chans``)
        instead of ``old_idx`` (a hot swap): each stream channel read by both keeps its held value."""
        guard = NonFiniteGuard(n_chans, self.policy)
        guard.n_replaced, guard.n_chunks_affected = self.n_replaced, self.n_chunks_affected
        old = np.arange(len(self._last)) if old_idx is None else np.asarray(old_idx)
        new = np.arange(n_chans) if new_idx is None else np.asarray(new_idx)
        where = {int(c): j for j, c in enumerate(old)}
        for i, c in enumerate(new):
            if (j := where.get(int(c))) is not None:
                guard._last[i], guard._unseen[i] = self._last[j], self._unseen[j]
                guard._placeheld[i] = self._placeheld[j]
        guard._some_unseen = guard.policy == "hold" and bool(guard._unseen.any())
        return guard

    def held(self) -> list[float | None]:
        """Per channel the value a non-finite one is held at, None before the channel's first finite value (a
        restarted worker's guard takes it back: :meth:`restore_held`)."""
        return [None if u else float(v) for v, u in zip(self._last, self._unseen)]

    def restore_held(self, held: list[float | None], restored_state: bool) -> None:
        """Take :meth:`held` of the last worker generation (same channels; ignored otherwise). ``restored_state``:
        its decoding state was restored too, so a channel still unseen then may have fed its filters the 0 stand-in."""
        if len(held) != len(self._last):
            return
        for i, v in enumerate(held):
            if v is not None and np.isfinite(v):
                self._last[i], self._unseen[i] = v, False
        self._placeheld |= self._unseen & restored_state
        self._some_unseen = self.policy == "hold" and bool(self._unseen.any())

    def ok(self, x: np.ndarray) -> np.ndarray:
        """``[T, C]``: True where ``x`` is finite and within :attr:`limit` (one comparison: NaN compares False)."""
        return np.isfinite(x) if self.limit is None else np.abs(x) <= self.limit

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Return ``x`` (modified in place) with non-finite values replaced; ``x`` is ``[T, C]``."""
        self.last_bad = self.first_finite = None
        self.last_replaced = self.last_beyond = 0
        ok = self.ok(x)
        if self._some_unseen and len(x):
            self._first_values(x, ok)
        if not ok.all():
            self.last_bad = bad = ~ok
            if self.limit is not None:
                self.last_beyond = int(np.isfinite(x[bad]).sum())
            self.last_replaced = int(bad.sum())
            self.n_replaced += self.last_replaced
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

    def _first_values(self, x: np.ndarray, ok: np.ndarray) -> None:
        """Channels still unseen: held from the chunk's start at their first finite value in it (those held at the
        stand-in before into :attr:`first_finite`), the others at the stand-in (0)."""
        cols = np.flatnonzero(self._unseen)
        has = ok[:, cols].any(axis=0)
        found, rest = cols[has], cols[~has]
        if len(found):
            self._last[found] = x[ok[:, found].argmax(axis=0), found]
            self._unseen[found] = False
            if (again := found[self._placeheld[found]]).size:
                self.first_finite = (again, self._last[again].copy())
            self._placeheld[found] = False
            self._some_unseen = bool(len(rest))
        self._placeheld[rest] = True
