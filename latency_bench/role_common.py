"""What the role processes share besides their protocol: the table they record into, and LSL stream helpers.

:class:`_Growing` (a preallocated float64 table that doubles when full, written under a lock by one thread and copied
out by another), :func:`_resolve` (a stream by name), :func:`_stream_info` and :func:`_copy_info` (the StreamInfo of
an outlet a role opens).
"""

from __future__ import annotations

import threading

import numpy as np
import pylsl


class _Growing:
    """A preallocated float64 table of ``n_cols`` columns that doubles when full (no per-sample allocation).

    The writer holds :attr:`lock` from :meth:`room` to :meth:`commit`; :meth:`take` (another thread) copies
    the rows out and optionally empties the table, under the same lock.
    """

    def __init__(self, capacity: int, n_cols: int) -> None:
        self.data = np.empty((max(16, capacity), n_cols))
        self.n = 0
        self.total = 0
        self.lock = threading.Lock()

    def take(self, clear: bool) -> np.ndarray:
        with self.lock:
            rows = self.data[: self.n].copy()
            if clear:
                self.n = 0
        return rows

    def room(self, k: int) -> np.ndarray:
        """A writable view of the next ``k`` rows (grown if needed); call :meth:`commit` after filling it."""
        if self.n + k > len(self.data):
            bigger = np.empty((max(2 * len(self.data), self.n + k), self.data.shape[1]))
            bigger[: self.n] = self.data[: self.n]
            self.data = bigger
        return self.data[self.n : self.n + k]

    def commit(self, k: int) -> None:
        self.n += k
        self.total += k

    def view(self) -> np.ndarray:
        return self.data[: self.n]


def _resolve(name: str, timeout: float) -> pylsl.StreamInfo:
    found = pylsl.resolve_bypred(f"name='{name}'", 1, timeout)
    if not found:
        raise TimeoutError(f"no LSL stream named {name!r} within {timeout:g} s")
    return found[0]


def _stream_info(name: str, source_id: str, ch_names: list[str], sfreq: float, channel_format: str,
                 stype: str = "EEG", unit: str = "microvolts") -> pylsl.StreamInfo:
    from bci_stream.lsl.info import make_stream_info

    return make_stream_info(name, stype, ch_names, sfreq, source_id, unit=unit,
                            ch_type="EEG" if stype == "EEG" else "misc", channel_format=channel_format)


def _copy_info(src: pylsl.StreamInfo, name: str) -> pylsl.StreamInfo:
    """The same shape and channel labels as ``src`` under another name (for relays)."""
    labels = []
    ch = src.desc().child("channels").child("channel")
    while not ch.empty():
        labels.append(ch.child_value("label"))
        ch = ch.next_sibling("channel")
    if len(labels) != src.channel_count():
        labels = [f"ch{i + 1}" for i in range(src.channel_count())]
    fmt = {pylsl.cf_float32: "float32", pylsl.cf_double64: "double64", pylsl.cf_int32: "int32",
           pylsl.cf_int16: "int16"}[src.channel_format()]
    return _stream_info(name, f"{src.source_id()}/{name}", labels, src.nominal_srate(), fmt, stype=src.type())
