"""A RecordOnly recording of a test's own pylsl outlet: opened, run on a thread, fed by the test, stopped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pylsl

from bci_stream.service.record_only import RecordOnly
from support.lsl import wait_for


def record_outlet(path: Path, name: str, outlet: pylsl.StreamOutlet, x: np.ndarray,
                  stamps_of: Callable[[np.ndarray], np.ndarray] | None = None, sfreq: float = 250.0) -> RecordOnly:
    """Record stream ``name`` into ``path`` while ``x`` ``[n, n_chans]`` is pushed on ``outlet`` in chunks of 50
    (as fast as liblsl takes them), stamped ``stamps_of(nominal schedule at sfreq)`` or by liblsl (None); stopped and
    closed once every sample was taken: the recorder."""
    rec, stop = RecordOnly(path, name), threading.Event()
    rec.open()
    thread = threading.Thread(target=rec.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(outlet.have_consumers, 10.0, "the recorder's inlet")
        ts = None if stamps_of is None else stamps_of(pylsl.local_clock() + np.arange(len(x)) / sfreq)
        for i in range(0, len(x), 50):
            if ts is None:
                outlet.push_chunk(x[i:i + 50])
            else:
                outlet.push_chunk(x[i:i + 50], ts[i:i + 50].tolist())
            time.sleep(0.001)
        wait_for(lambda: rec.counters.samples_in >= len(x), 60.0, "every sample")
    finally:
        stop.set()
        thread.join(10.0)
        rec.close()
    return rec
