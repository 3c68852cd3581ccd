"""The signal an export's parity check runs through the old and the new graph: EEG-sized in the card's unit."""

from __future__ import annotations

import numpy as np

from bci_stream.core.units import volts_per_unit


def eeg_sized(n_samples: int, n_chans: int, unit: str, seed: int = 0) -> np.ndarray:
    """``[n_samples, n_chans]`` float32: an SD of 10 µV and offsets up to ±50 µV, written in ``unit`` (a card's:
    ``volts`` gives ±5e-5; a unit that is no voltage, as given). The same numbers in every unit would be ±50 V on a
    volts card (MNE's unit), ~1e6 once standardised: a saturated network's float32 rounding then failed parity."""
    rng = np.random.default_rng(seed)
    per_unit = volts_per_unit(unit)
    size = 1.0 if per_unit is None else 1e-6 / per_unit
    x = size * (10.0 * rng.standard_normal((n_samples, n_chans)) + rng.uniform(-50, 50, n_chans))
    return x.astype(np.float32)
