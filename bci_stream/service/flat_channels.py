"""Input channels that stopped changing: an electrode off, an input railed at its amplifier's limit, zeros sent.

The service watched the stream's timing closely and its values not at all: a channel flat from the start or gone flat
mid-run left the status as for a healthy stream, while a tangent-space decoder's accuracy fell from 1.00 to 0.77 (an
audit, S002, C3 zeroed). Scalp EEG never holds one value to the last bit for a second; a channel that does is named in
the status (``stream.flat_channels``), the log and the recording (``flat_channels`` events), and named again when it
changes. The values the decoder reads are looked at (model channels, after ``nan_policy``: a channel held for good is
flat), after the chunk's outputs are published: nothing is added to its latency.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from bci_stream.core.channels import shortlist

log = logging.getLogger("bci_stream.worker")

#: a channel whose values do not change at all over this many seconds of the stream is flat
FLAT_S = 1.0


class FlatChannels:
    """Which of the model's channels held one value over the last block of :data:`FLAT_S` seconds.

    Parameters
    ----------
    sfreq
        The stream's nominal rate (a block's samples).
    names
        The model's channel names, in the order of the values fed.
    on_change
        ``on_change(names)``: the flat channels, each time the set changes (the status, the recording).
    name
        Who is speaking in the log (``decoder <id>``).
    """

    def __init__(self, sfreq: float, names: Sequence[str], on_change: Callable[[list[str]], None], name: str) -> None:
        self.block = max(int(round(FLAT_S * sfreq)) if sfreq > 0 else 256, 2)
        self.names, self.on_change, self.name = names, on_change, name
        self.lo: np.ndarray | None = None
        self.hi: np.ndarray | None = None
        self.n = 0
        self.flat: list[str] = []

    def feed(self, x: np.ndarray) -> None:
        """The values ``x`` ``[n, n_chans]`` the decoder read; at the end of a block, the flat channels judged."""
        if len(x) == 0:
            return
        lo, hi = x.min(axis=0), x.max(axis=0)
        if self.lo is None or self.hi is None:
            self.lo, self.hi = lo, hi
        else:
            np.minimum(self.lo, lo, out=self.lo)
            np.maximum(self.hi, hi, out=self.hi)
        self.n += len(x)
        if self.n >= self.block:
            idx = np.flatnonzero(self.hi == self.lo)
            flat = [self.names[i] for i in idx]
            if flat != self.flat:
                self._changed(flat, {self.names[i]: float(self.lo[i]) for i in idx[:8]})
            self.lo = self.hi = None
            self.n = 0

    def _changed(self, flat: list[str], value: dict[str, float]) -> None:
        back = [n for n in self.flat if n not in flat]
        self.flat = flat
        if flat:
            held = ", ".join(f"{n} at {v:.6g}" for n, v in value.items())
            log.warning("%s: %d channel(s) flat (one value for %.3g s: an electrode off, an input railed, or zeros "
                        "sent): %s (%s); the decoder reads them as they are", self.name, len(flat), FLAT_S,
                        shortlist(flat, 8), held)
        if back:
            log.info("%s: channel(s) no longer flat: %s", self.name, shortlist(back, 8))
        self.on_change(list(flat))
