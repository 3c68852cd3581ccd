"""Push samples to an LSL outlet at a real-time pace, as an amplifier would."""

from __future__ import annotations

import time

import numpy as np
import pylsl


def push_paced(outlet: pylsl.StreamOutlet, x: np.ndarray, sfreq: float, chunk: int = 10,
               t_start: float | None = None) -> np.ndarray:
    """Push ``x[T, C]`` in chunks of ``chunk`` samples at ``sfreq``; return the timestamps used."""
    t_start = pylsl.local_clock() if t_start is None else t_start
    ts = t_start + np.arange(len(x)) / sfreq
    for i in range(0, len(x), chunk):
        due = ts[min(i + chunk, len(x)) - 1]
        wait = due - pylsl.local_clock()
        if wait > 0:
            time.sleep(wait)
        outlet.push_chunk(x[i : i + chunk], ts[i : i + chunk].tolist())
    return ts
