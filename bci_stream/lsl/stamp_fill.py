"""Sample timestamps that are no number (NaN, inf), filled in before anything reads them.

liblsl passes a sender's stamps through as given, so a sender that stamps a sample ``inf`` or ``NaN`` (a clock read
that failed, a division by zero) delivers it. Every later stage assumes finite stamps: the gap tracker's arithmetic
(``inf`` crashed the worker: its chunk neither decoded nor rejected, the worker restarted and ~1.5 s lost), the
decoded stream, which keeps the input's stamps (a ``NaN`` stamp went out as it came, uncounted), and XDF readers.

Such a stamp is put where the sample stands: one period after the finite stamp before it (in the chunk, or the last
of the previous chunk), else one period before the next finite one, else on this host's clock. It is counted (the
decoders' ``nonfinite_timestamps``); the sample itself is decoded as usual.
"""

from __future__ import annotations

import numpy as np
import pylsl


def fill_nonfinite(ts: np.ndarray, last: float | None, sfreq: float) -> int:
    """Fill the non-finite stamps of ``ts`` in place; how many there were.

    Parameters
    ----------
    ts
        The chunk's stamps (float64, written in place).
    last
        The previous chunk's last stamp (finite), or None before the first chunk.
    sfreq
        The nominal rate (Hz; 0 for an irregular stream: a filled stamp repeats its neighbour's).
    """
    bad = ~np.isfinite(ts)
    n_bad = int(bad.sum())
    if n_bad == 0:
        return 0
    period = 1.0 / sfreq if sfreq > 0 else 0.0
    idx = np.arange(len(ts))
    good = np.flatnonzero(~bad)
    before = np.maximum.accumulate(np.where(bad, -1, idx))  # the finite stamp at or before each sample
    now = pylsl.local_clock()
    for i in np.flatnonzero(bad):
        if before[i] >= 0:
            ts[i] = ts[before[i]] + (i - before[i]) * period
        elif last is not None:
            ts[i] = last + (i + 1) * period
        elif len(after := good[good > i]):
            ts[i] = ts[after[0]] - (after[0] - i) * period
        else:  # no finite stamp yet at all: this host's clock, the chunk ending now
            ts[i] = now - (len(ts) - 1 - i) * period
    return n_bad
