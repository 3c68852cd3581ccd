"""Push samples to an LSL outlet at a real-time pace, as an amplifier would."""

from __future__ import annotations

import threading
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


class PacedPusher(threading.Thread):
    """Push ``x[T, C]`` in real time in chunks of ``chunk`` samples (each stamped on the ``sfreq`` schedule) on a
    thread, until ``x`` ends or :attr:`halt` is set; :attr:`sent` counts the samples pushed so far."""

    def __init__(self, outlet: pylsl.StreamOutlet, x: np.ndarray, sfreq: float, chunk: int = 10) -> None:
        super().__init__(daemon=True)
        self.outlet, self.x, self.sfreq, self.chunk = outlet, x, sfreq, chunk
        self.sent, self.halt = 0, threading.Event()
        self.t0: float | None = None  # sample i is stamped t0 + i / sfreq

    def run(self) -> None:
        self.t0 = t0 = pylsl.local_clock()
        i, k = 0, self.chunk
        while not self.halt.is_set() and i < len(self.x):
            ts = t0 + np.arange(i, i + k) / self.sfreq
            if (wait := ts[-1] - pylsl.local_clock()) > 0:
                time.sleep(wait)
            self.outlet.push_chunk(self.x[i:i + k], ts.tolist())
            i += k
            self.sent = i
