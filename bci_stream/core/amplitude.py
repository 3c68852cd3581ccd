"""The amplitude of a recording or stream window, for unit plausibility (numpy only: offline tools use it without
loading LSL)."""

from __future__ import annotations

import numpy as np


def median_channel_sd(x: np.ndarray) -> float:
    """The median over channels of each channel's standard deviation over its finite samples (``x`` ``[T, C]``);
    NaN when no channel has two finite samples."""
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    if finite.all():  # the usual case, vectorised (a 64-channel, 2 s window at 1 kHz: ~0.3 ms)
        return float(np.median(x.std(axis=0))) if len(x) > 1 else float("nan")
    n = finite.sum(axis=0)
    some = n > 1  # nanstd of a column of fewer than 2 finite values warns (a Python warning: errstate misses it)
    with np.errstate(invalid="ignore", divide="ignore"):
        sds = np.nanstd(np.where(finite, x, np.nan)[:, some], axis=0)
    return float(np.median(sds)) if sds.size else float("nan")
