"""Source model of the synthetic EEG: amplitudes, scalp positions and the class-to-ERD map.

The simulator (:class:`~bci_stream.sim.eeg.SyntheticEEG`) mixes a pink background, two posterior alpha
sources (O1, O2) and three sensorimotor mu/beta sources (C3, C4, Cz). Amplitudes are in microvolts.
Source positions live on the coarse grid of :func:`~bci_stream.sim.montage.ten_ten_position` (``x``
lateral, ``y`` front-back, one unit ~ one 10 % step); each source reaches the electrodes through a
Gaussian of scalp distance (:func:`scalp_weights`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "PINK_PSD_AT_10HZ",
    "SHARED_WEIGHT_RANGE",
    "ALPHA_RMS",
    "MU_RMS",
    "BETA_RMS",
    "LINE_AMP_RANGE",
    "ERD_DEPTH",
    "ERD_RAMP_S",
    "SMR_POS",
    "SMR_SIGMA",
    "ALPHA_POS",
    "ALPHA_SIGMA",
    "CLASS_SOURCES",
    "scalp_weights",
]

# --- amplitude model (microvolts) -------------------------------------------------
#: One-sided PSD of each channel's independent pink background at 10 Hz (uV^2/Hz).
PINK_PSD_AT_10HZ = 1.5
#: Range of per-channel weights of the shared (volume-conducted) pink component.
SHARED_WEIGHT_RANGE = (0.4, 0.7)
#: RMS of each posterior alpha source at its own location (uV).
ALPHA_RMS = 10.0
#: RMS of the mu (10-12 Hz) and beta (20-24 Hz) sources at C3/C4/Cz (uV).
MU_RMS = 8.0
BETA_RMS = 4.0
#: Per-channel line-noise amplitude range (uV, peak) for the fundamental.
LINE_AMP_RANGE = (1.0, 3.0)
#: Source amplitude during a cue, relative to rest, and the ramp duration (s).
ERD_DEPTH = 0.25
ERD_RAMP_S = 0.3

# --- source positions on the ten_ten_position grid, and their spatial spread ------
#: Sensorimotor (mu/beta) sources: C3, C4, Cz (rows are sources 0, 1, 2).
SMR_POS = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 0.0]])
SMR_SIGMA = 1.0
#: Posterior alpha sources: O1, O2.
ALPHA_POS = np.array([[-1.0, -4.0], [1.0, -4.0]])
ALPHA_SIGMA = 1.3

#: Which sensorimotor source(s) (0 = C3, 1 = C4, 2 = Cz) desynchronise for each class.
CLASS_SOURCES: dict[str, tuple[int, ...]] = {
    "left_hand": (1,),
    "right_hand": (0,),
    "feet": (2,),
    "both_hands": (0, 1),
}


def scalp_weights(ch_pos: np.ndarray, src_pos: np.ndarray, sigma: float) -> np.ndarray:
    """Weight of each source at each electrode: a Gaussian of their scalp distance.

    Parameters
    ----------
    ch_pos : ndarray, shape (C, 2)
        Electrode positions (:func:`~bci_stream.sim.montage.ten_ten_position`).
    src_pos : ndarray, shape (n_src, 2)
        Source positions on the same grid.
    sigma : float
        Spatial spread in grid units.

    Returns
    -------
    ndarray, shape (n_src, C)
        ``exp(-d² / (2 sigma²))``: 1 at the source location, decaying with distance ``d``.
    """
    d2 = ((ch_pos[None, :, :] - src_pos[:, None, :]) ** 2).sum(axis=-1)
    return np.exp(-d2 / (2.0 * sigma**2))  # [n_src, C]
