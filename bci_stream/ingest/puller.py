"""Pull every available sample of a numeric LSL inlet into preallocated buffers.

``pylsl.StreamInlet.pull_chunk(min_samples=1, max_samples=M, dest_obj=buf)`` does what the hot loop needs,
but per call it allocates an ``M``-sample timestamp array and builds ctypes views of ``buf`` twice; with
``M`` sized for a 30-s backlog that is a 240-KB allocation per wake-up at 1 kHz. :class:`ChunkPuller` makes
the same two liblsl calls (wait for one sample, then take what else is there without waiting) on buffers
and ctypes arguments built once.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pylsl
from pylsl.util import handle_error

PULL_MAX_SAMPLES = 512
"""The most samples the decoder worker takes per pull: a backlog is decoded and published in pieces of this
size, so its first outputs leave while the rest is decoded (and the other core carries them on)."""


class ChunkPuller:
    """``pull(timeout)`` → ``(x[n, C], ts[n])``, views of buffers reused by the next call.

    Parameters
    ----------
    inlet : pylsl.StreamInlet
        An open inlet on a numeric stream.
    max_samples : int
        The most samples one call returns (the rest stays in the inlet for the next call). A backlog is
        thus taken in pieces of ``max_samples``, each decoded and published before the next is pulled.
    """

    def __init__(self, inlet: pylsl.StreamInlet, max_samples: int) -> None:
        if inlet.np_dtype is None:
            raise ValueError("the inlet's channel_format must be numeric, got cf_string")
        if max_samples < 1:
            raise ValueError(f"max_samples must be >= 1, got {max_samples}")
        self.inlet = inlet
        self.n_chans = inlet.channel_count
        self.max_samples = int(max_samples)
        self.data = np.empty((self.max_samples, self.n_chans), dtype=inlet.np_dtype)
        self.ts = np.empty(self.max_samples, dtype=np.float64)
        self._pull = inlet.do_pull_chunk
        self._obj = inlet.obj
        self._err = ctypes.c_int()
        self._err_ref = ctypes.byref(self._err)
        row = self.data.strides[0]
        self._first = (ctypes.c_void_p(self.data.ctypes.data), ctypes.c_void_p(self.ts.ctypes.data),
                       ctypes.c_size_t(self.n_chans), ctypes.c_size_t(1))
        rest = self.max_samples - 1
        self._rest = (ctypes.c_void_p(self.data.ctypes.data + row), ctypes.c_void_p(self.ts.ctypes.data + 8),
                      ctypes.c_size_t(rest * self.n_chans), ctypes.c_size_t(rest))
        self._no_wait = ctypes.c_double(0.0)

    def pull(self, timeout: float) -> tuple[np.ndarray, np.ndarray]:
        """Wait up to ``timeout`` s for one sample, then take every sample already there (up to
        ``max_samples``); ``n = 0`` when nothing came.

        Raises
        ------
        pylsl.util.LostError
            When the source is gone and the inlet cannot recover it.
        """
        data, ts, n_values, n_samples = self._first
        n = self._pull(self._obj, data, ts, n_values, n_samples, ctypes.c_double(timeout), self._err_ref)
        if self._err.value:
            handle_error(self._err)
        if n and self.max_samples > 1:
            data, ts, n_values, n_samples = self._rest
            n += self._pull(self._obj, data, ts, n_values, n_samples, self._no_wait, self._err_ref)
            if self._err.value:
                handle_error(self._err)
        k = n // self.n_chans
        return self.data[:k], self.ts[:k]
