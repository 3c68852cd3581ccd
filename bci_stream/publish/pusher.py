"""Push a chunk with one timestamp per sample into a numeric LSL outlet, without per-call conversions."""

from __future__ import annotations

import ctypes

import numpy as np
import pylsl
from pylsl.util import handle_error


class ChunkPusher:
    """``push(x[T, C], ts[T])`` into a numeric outlet: the liblsl call of ``StreamOutlet.push_chunk``
    without its per-call conversions (``ts.tolist()`` and a ctypes array built from it, 1 ms for 10,000
    samples; a few µs for one). ``x`` is converted to the outlet's dtype only when it differs.
    """

    def __init__(self, outlet: pylsl.StreamOutlet) -> None:
        if outlet.np_dtype is None:
            raise ValueError("the outlet's channel_format must be numeric, got cf_string")
        self.outlet = outlet
        self.dtype = np.dtype(outlet.np_dtype)
        self._one, self._many, self._obj = outlet.do_push_chunk, outlet.do_push_chunk_n, outlet.obj
        self._through = ctypes.c_int(1)

    def __call__(self, x: np.ndarray, timestamps: np.ndarray) -> None:
        n = len(timestamps)
        if x.shape != (n, self.outlet.channel_count):
            raise ValueError(f"x must have shape ({n}, {self.outlet.channel_count}) for {n} timestamps, got {x.shape}")
        if n == 0:
            return
        x = np.ascontiguousarray(x, dtype=self.dtype)
        data, n_values = ctypes.c_void_p(x.ctypes.data), ctypes.c_long(x.size)
        if n == 1:
            err = self._one(self._obj, data, n_values, ctypes.c_double(timestamps[0]), self._through)
        else:
            ts = np.ascontiguousarray(timestamps, dtype=np.float64)
            err = self._many(self._obj, data, n_values, ctypes.c_void_p(ts.ctypes.data), self._through)
        handle_error(err)
