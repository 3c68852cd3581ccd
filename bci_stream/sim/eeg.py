"""Stateful, seeded synthetic EEG with cued motor-imagery trials.

:class:`SyntheticEEG` produces plausible multichannel scalp EEG (microvolts) with

* a 1/f ("pink") background per channel plus a shared volume-conduction component,
* a posterior alpha rhythm (~10 Hz, slowly amplitude-modulated) centred on O1/O2,
* sensorimotor mu (~11 Hz) and beta (~22 Hz) sources under C3, C4 and Cz, spread
  to neighbouring electrodes by a Gaussian of scalp distance,
* small power-line interference,
* a cue schedule (rest, cue, rest, cue, ...) with class-dependent event-related
  desynchronisation (ERD) of the contralateral mu/beta source during each cue.

The generator is *chunk-invariant*: calling :meth:`SyntheticEEG.generate`
repeatedly with any chunk sizes yields exactly the same concatenated samples
(bit for bit) as one call for the total. Every random draw is taken row by row
from dedicated generators, IIR filters carry their state and everything else is
a pure function of the absolute sample index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np

from bci_stream.sim.filters import NoiseFilterBank
from bci_stream.sim.montage import ten_ten_names, ten_ten_position
from bci_stream.sim.schedule import CueSchedule
from bci_stream.sim.sources import (
    ALPHA_POS,
    ALPHA_RMS,
    ALPHA_SIGMA,
    BETA_RMS,
    CLASS_SOURCES,
    ERD_DEPTH,
    LINE_AMP_RANGE,
    MU_RMS,
    SHARED_WEIGHT_RANGE,
    SMR_POS,
    SMR_SIGMA,
    scalp_weights,
)

__all__ = ["SyntheticEEG", "CLASS_SOURCES"]

#: Seconds of white noise run through the filters before the first sample (steady state).
_WARMUP_S = 5.0
#: Lowest sampling rate that keeps the beta band (20-24 Hz) below Nyquist, with margin.
_MIN_SFREQ = 60.0


def _check_real(name: str, value: object) -> float:
    """``value`` as a float if it is a finite real number (not a bool); ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


class SyntheticEEG:
    """Seeded, chunk-invariant EEG simulator with cued motor-imagery trials.

    Parameters
    ----------
    n_chans : int
        Number of channels, ``>= 1``.
    sfreq : float
        Sampling rate in Hz, ``>= 60`` (so that the beta band is below Nyquist).
    seed : int
        Non-negative seed; the whole output is a deterministic function of the
        seed and the other arguments.
    line_freq : float or None
        Power-line frequency in Hz. ``None`` or ``0`` disables line noise; it is
        also omitted when ``line_freq >= sfreq / 2``.
    trial_s : float
        Cue duration in seconds, ``> 0`` (and at least one sample).
    rest_s : tuple of float
        ``(min, max)`` rest duration before each cue in seconds, drawn uniformly;
        ``0 <= min <= max``.
    classes : sequence of str
        Cue classes, unique, each one of :data:`CLASS_SOURCES` (``left_hand`` ->
        ERD at C4, ``right_hand`` -> C3, ``feet`` -> Cz, ``both_hands`` -> C3 and
        C4). Drawn in shuffled blocks, so counts stay balanced.
    ch_names : sequence of str or None
        Channel labels (``n_chans`` unique non-empty strings). Defaults to
        :func:`~bci_stream.sim.montage.ten_ten_names`. Sources are placed by
        :func:`~bci_stream.sim.montage.ten_ten_position`, so channels with
        unrecognised names carry background activity but little rhythm.

    Attributes
    ----------
    label_names : list of str
        ``["rest", *classes]``; label ``i`` in :meth:`generate` output is
        ``label_names[i]``.

    Notes
    -----
    Amplitudes (at 160 Hz; the pink background grows slowly with ``sfreq``):
    background ~11-13 uV RMS per channel (independent pink with PSD 1.5 uV^2/Hz
    at 10 Hz plus a shared pink component weighted 0.4-0.7), alpha 10 uV RMS per
    occipital source, mu 8 uV and beta 4 uV RMS per sensorimotor source, line
    noise 1-3 uV peak. Typical channel RMS is 12-20 uV. During a cue the
    relevant mu/beta source amplitude ramps (raised cosine, 0.3 s) down to 25 %
    and back up after the cue ends, which cuts 8-13 Hz power at the electrode
    above the source by roughly a factor of 4-5.

    Cue onsets are available through :meth:`pop_events`.

    Examples
    --------
    >>> sim = SyntheticEEG(n_chans=8, sfreq=250.0, seed=1)
    >>> data, labels = sim.generate(250)
    >>> data.shape, data.dtype, labels.dtype
    ((250, 8), dtype('float32'), dtype('int64'))
    """

    def __init__(
        self,
        n_chans: int = 64,
        sfreq: float = 160.0,
        seed: int = 0,
        line_freq: float | None = 50.0,
        trial_s: float = 4.0,
        rest_s: tuple[float, float] = (2.0, 3.0),
        classes: Sequence[str] = ("left_hand", "right_hand", "feet"),
        ch_names: Sequence[str] | None = None,
    ) -> None:
        # ---- validation ----
        if isinstance(n_chans, bool) or not isinstance(n_chans, Integral):
            raise ValueError(f"n_chans must be an integer >= 1, got {n_chans!r}")
        if n_chans < 1:
            raise ValueError(f"n_chans must be >= 1, got {n_chans}")
        sfreq = _check_real("sfreq", sfreq)
        if sfreq <= 0:
            raise ValueError(f"sfreq must be > 0, got {sfreq:g}")
        if sfreq < _MIN_SFREQ:
            raise ValueError(
                f"sfreq must be >= {_MIN_SFREQ:g} Hz so that the beta band (20-24 Hz) "
                f"is below Nyquist, got {sfreq:g}"
            )
        if isinstance(seed, bool) or not isinstance(seed, Integral):
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if line_freq is None:
            line_freq = 0.0
        line_freq = _check_real("line_freq", line_freq)
        if line_freq < 0:
            raise ValueError(f"line_freq must be >= 0 (0 or None disables it), got {line_freq:g}")
        trial_s = _check_real("trial_s", trial_s)
        if trial_s <= 0:
            raise ValueError(f"trial_s must be > 0, got {trial_s:g}")
        if round(trial_s * sfreq) < 1:
            raise ValueError(
                f"trial_s must last at least one sample (1/sfreq = {1 / sfreq:g} s), got {trial_s:g}"
            )
        if isinstance(rest_s, (str, bytes)) or not isinstance(rest_s, Sequence) or len(rest_s) != 2:
            raise ValueError(f"rest_s must be a (min, max) pair of seconds, got {rest_s!r}")
        rest_lo = _check_real("rest_s[0]", rest_s[0])
        rest_hi = _check_real("rest_s[1]", rest_s[1])
        if not 0 <= rest_lo <= rest_hi:
            raise ValueError(f"rest_s must satisfy 0 <= min <= max, got {tuple(rest_s)!r}")
        if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence):
            raise ValueError(f"classes must be a sequence of class names, got {classes!r}")
        classes = tuple(classes)
        if not classes:
            raise ValueError("classes must contain at least one class, got ()")
        for c in classes:
            if c not in CLASS_SOURCES:
                raise ValueError(
                    f"classes must only contain {sorted(CLASS_SOURCES)}, got {c!r}"
                )
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes must be unique, got {classes!r}")
        if ch_names is None:
            names = ten_ten_names(int(n_chans))
        else:
            if isinstance(ch_names, (str, bytes)) or not isinstance(ch_names, Sequence):
                raise ValueError(f"ch_names must be a sequence of str, got {ch_names!r}")
            names = list(ch_names)
            if len(names) != n_chans:
                raise ValueError(
                    f"ch_names must have n_chans={n_chans} entries, got {len(names)}"
                )
            for nm in names:
                if not isinstance(nm, str) or not nm.strip():
                    raise ValueError(f"ch_names must be non-empty strings, got {nm!r}")
            if len(set(names)) != len(names):
                dup = sorted({nm for nm in names if names.count(nm) > 1})
                raise ValueError(f"ch_names must be unique, got duplicates {dup}")

        self._n_chans = int(n_chans)
        self._sfreq = sfreq
        self._seed = int(seed)
        self._line_freq = line_freq
        self._trial_s = trial_s
        self._rest_s = (rest_lo, rest_hi)
        self._classes = classes
        self._ch_names = names
        self.label_names: list[str] = ["rest", *classes]

        # ---- random streams ----
        ss_setup, ss_warm, ss_signal, ss_sched = np.random.SeedSequence(self._seed).spawn(4)
        setup_rng = np.random.default_rng(ss_setup)
        self._rng = np.random.default_rng(ss_signal)

        # ---- spatial model ----
        C = self._n_chans
        pos = np.array([ten_ten_position(nm) for nm in names], dtype=float)
        self._w_smr = scalp_weights(pos, SMR_POS, SMR_SIGMA)
        self._w_alpha = scalp_weights(pos, ALPHA_POS, ALPHA_SIGMA)
        self._w_shared = setup_rng.uniform(*SHARED_WEIGHT_RANGE, size=C)

        # ---- filters (unit-variance outputs except pink, which is in uV) ----
        self._noise = NoiseFilterBank(C, sfreq)
        # warm the filters up on a separate stream so the output starts in steady state
        warm_rng = np.random.default_rng(ss_warm)
        self._noise.filter(warm_rng.standard_normal((int(_WARMUP_S * sfreq), self._noise.n_noise)))

        # ---- line noise ----
        self._line_terms: list[tuple[float, np.ndarray, np.ndarray]] = []
        if 0 < line_freq < sfreq / 2:
            amp = setup_rng.uniform(*LINE_AMP_RANGE, size=C)
            phase = setup_rng.uniform(0.0, 2 * np.pi, size=C)
            self._line_terms.append((line_freq / sfreq, amp, phase))
            if 3 * line_freq < sfreq / 2:
                self._line_terms.append((3 * line_freq / sfreq, 0.2 * amp, 3 * phase))

        # ---- cue schedule ----
        self._n_generated = 0
        self._schedule = CueSchedule(sfreq, trial_s, self._rest_s, classes, np.random.default_rng(ss_sched))

    # ------------------------------------------------------------------ properties
    @property
    def ch_names(self) -> list[str]:
        """Channel labels (a copy)."""
        return list(self._ch_names)

    @property
    def n_chans(self) -> int:
        """Number of channels."""
        return self._n_chans

    @property
    def sfreq(self) -> float:
        """Sampling rate in Hz."""
        return self._sfreq

    @property
    def seed(self) -> int:
        """Seed the generator was built with."""
        return self._seed

    @property
    def classes(self) -> tuple[str, ...]:
        """Cue classes; label ``i >= 1`` means ``classes[i - 1]``."""
        return self._classes

    @property
    def n_generated(self) -> int:
        """Number of samples generated so far (absolute index of the next sample)."""
        return self._n_generated


    # ------------------------------------------------------------------ public API
    def generate(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Generate the next ``n`` samples.

        Parameters
        ----------
        n : int
            Number of samples, ``>= 0``.

        Returns
        -------
        data : ndarray of float32, shape (n, n_chans)
            EEG in microvolts.
        labels : ndarray of int64, shape (n,)
            0 for rest, ``i`` for a cue of ``classes[i - 1]`` (see
            :attr:`label_names`). A cue covers exactly ``trial_s`` seconds from
            its onset; the ERD ramps in over 0.3 s after onset and out over 0.3 s
            after the cue ends.

        Notes
        -----
        Output is chunk-invariant: any sequence of calls yields the same samples
        as one call for the total. Cue onsets that fall in the generated block are
        queued for :meth:`pop_events`.
        """
        if isinstance(n, bool) or not isinstance(n, Integral):
            raise ValueError(f"n must be an integer >= 0, got {n!r}")
        n = int(n)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        C = self._n_chans
        if n == 0:
            return np.zeros((0, C), dtype=np.float32), np.zeros(0, dtype=np.int64)
        s0, s1 = self._n_generated, self._n_generated + n

        w = self._rng.standard_normal((n, self._noise.n_noise))
        pink, alpha, env, mu, beta = self._noise.filter(w)

        # background: independent pink + shared volume-conducted pink
        x = pink[:, :C]
        x += pink[:, C : C + 1] * self._w_shared[None, :]

        # posterior alpha, slowly amplitude-modulated (shared envelope)
        alpha *= ALPHA_RMS * np.clip(1.0 + 0.35 * env, 0.2, None)
        for j in range(alpha.shape[1]):
            x += alpha[:, j : j + 1] * self._w_alpha[j][None, :]

        # sensorimotor mu/beta with ERD
        self._schedule.extend(s1)
        act, labels = self._schedule.erd_and_labels(s0, s1)
        gain = 1.0 - (1.0 - ERD_DEPTH) * act
        smr = (MU_RMS * mu + BETA_RMS * beta) * gain
        for j in range(3):
            x += smr[:, j : j + 1] * self._w_smr[j][None, :]

        # line noise: a pure function of the absolute sample index
        if self._line_terms:
            k = np.arange(s0, s1, dtype=np.float64)
            for cycles_per_sample, amp, phase in self._line_terms:
                frac = np.mod(k * cycles_per_sample, 1.0)
                x += amp[None, :] * np.sin(2 * np.pi * frac[:, None] + phase[None, :])

        self._n_generated = s1
        self._schedule.record_events_and_prune(s1)
        return x.astype(np.float32), labels

    def pop_events(self) -> list[tuple[int, str]]:
        """Cue onsets generated since the previous call.

        Returns
        -------
        list of (int, str)
            ``(sample_index, class_name)`` for every cue whose onset sample was
            produced by :meth:`generate` since the last call, in order.
            ``sample_index`` is absolute (0 = first sample ever generated), so the
            onset time is ``t0 + sample_index / sfreq``.
        """
        return self._schedule.pop_events()

    def __repr__(self) -> str:
        return (
            f"SyntheticEEG(n_chans={self._n_chans}, sfreq={self._sfreq:g}, seed={self._seed}, "
            f"line_freq={self._line_freq:g}, trial_s={self._trial_s:g}, rest_s={self._rest_s}, "
            f"classes={self._classes})"
        )
