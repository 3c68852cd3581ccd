"""The one module that goes past pylsl's public API, and why.

The hot loop wakes up once per sample at 1 kHz; pylsl's public calls allocate and convert on every call:

* ``StreamInlet.pull_chunk(max_samples=M, dest_obj=buf)`` allocates an ``M``-sample timestamp array and
  builds ctypes views of ``buf`` twice per call (a 240-KB allocation per wake-up at 1 kHz with ``M`` sized
  for a 30-s backlog). :class:`ChunkPuller` makes the same two liblsl calls (wait for one sample, then take
  what else is there without waiting) on buffers and ctypes arguments built once.
* ``StreamOutlet.push_chunk`` converts the timestamps with ``ts.tolist()`` and a ctypes array built from
  it (1 ms for 10,000 samples); :class:`ChunkPusher` hands liblsl the numpy buffers.
* pylsl exposes only the clock offset; liblsl's ``lsl_time_correction_ex`` also gives its uncertainty
  (:func:`time_correction_ex`).

What is used: the ``do_pull_chunk``, ``do_push_chunk``, ``do_push_chunk_n`` and ``obj`` attributes of
pylsl's inlet/outlet objects, ``pylsl.lib.lib`` (the loaded liblsl) and ``pylsl.util.handle_error``
(pylsl 1.16-1.18). ``tests/unit/lsl/test_liblsl.py`` pins them, and checks every call against pylsl's
public API on real streams.
"""

from __future__ import annotations

import ctypes
import math

import numpy as np
import pylsl
from pylsl.util import handle_error

from bci_stream.lsl.stamp_fill import fill_nonfinite
from bci_stream.lsl.zero_stamps import ZeroStartStamps

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
    sfreq : float
        The stream's nominal rate, to place a stamp that is no number (:mod:`~bci_stream.lsl.stamp_fill`): every
        stamp ``pull`` returns is finite; :attr:`last_filled` counts those the last call filled in. At a regular
        rate, stamps liblsl deduced from 0 (a connection begun inside a pushed chunk) are placed back from the next
        stamped sample (:mod:`~bci_stream.lsl.zero_stamps`); :attr:`last_restamped` counts them.
    follows : ChunkPuller, optional
        The puller of the same source's previous inlet (a reopened source): the rows it held back (a run of stamps
        liblsl deduced from 0 with no stamped sample after it yet) come first, placed by the new inlet's first stamp
        and never before the last stamp the old puller handed on.
    """

    def __init__(self, inlet: pylsl.StreamInlet, max_samples: int, sfreq: float = 0.0,
                 follows: ChunkPuller | None = None) -> None:
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
        self.sfreq = float(sfreq)
        self.last_filled = 0
        self.last_restamped = 0
        self._last_ts: float | None = None  # the last stamp pulled
        self._last_out: float | None = None  # the last stamp handed on
        self._zero = ZeroStartStamps(self.sfreq, self.max_samples) if self.sfreq > 0 else None
        shape = (self.sfreq, self.n_chans, self.data.dtype)
        if (follows is not None and follows._zero is not None and self._zero is not None
                and (follows.sfreq, follows.n_chans, follows.data.dtype) == shape):
            self._zero.carry(follows._zero)
            self._last_out = follows._last_out

    def pull(self, timeout: float) -> tuple[np.ndarray, np.ndarray]:
        """Wait up to ``timeout`` s for one sample, then take every sample already there (up to
        ``max_samples``); ``n = 0`` when nothing came.

        Raises
        ------
        pylsl.util.LostError
            When the source is gone and the inlet cannot recover it.
        """
        zero = self._zero
        if zero is not None and zero.ready is not None:  # rows released beyond max_samples: handed on first
            x, ts = zero.take(self.data[:0], self.ts[:0], self._last_out)
            self.last_filled, self.last_restamped = 0, zero.restamped
            return self._handed(x, ts)
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
        ts = self.ts[:k]
        self.last_filled = self.last_restamped = 0
        if k:
            if not math.isfinite(ts.sum()):  # a NaN or inf stamp (the sum: one cheap check at 1 kHz)
                self.last_filled = fill_nonfinite(ts, self._last_ts, self.sfreq)
            self._last_ts = float(ts[-1])
        if zero is not None and (zero.held is not None or (k and zero.starts(ts))):
            x, ts = zero.take(self.data[:k], ts, self._last_out)
            self.last_restamped = zero.restamped
            return self._handed(x, ts)
        if k:
            self._last_out = self._last_ts
        return self.data[:k], ts

    def pending(self) -> int:
        """Rows pulled and not handed on yet: a run of stamps liblsl deduced from 0 waiting for a stamped sample."""
        return 0 if self._zero is None else self._zero.pending()

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows not handed on yet (:meth:`pending`; the stream ends), a held run stamped on from the last stamp
        handed on at the nominal rate (:attr:`last_restamped` counts them); ``n = 0`` when there are none."""
        self.last_filled = self.last_restamped = 0
        if self._zero is None or (out := self._zero.flush(self._last_out)) is None:
            return self.data[:0], self.ts[:0]
        self.last_restamped = self._zero.restamped
        return self._handed(*out)

    def _handed(self, x: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(ts):
            self._last_out = float(ts[-1])
        return x, ts


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


def time_correction_ex(inlet: pylsl.StreamInlet, timeout: float) -> tuple[float, float]:
    """LSL's clock offset estimate and its uncertainty (the round-trip time of the best probe), seconds.

    pylsl exposes only the offset; liblsl's ``lsl_time_correction_ex`` also gives the uncertainty.
    """
    remote, uncertainty, errcode = ctypes.c_double(), ctypes.c_double(), ctypes.c_int32()
    fn = pylsl.lib.lib.lsl_time_correction_ex
    fn.restype = ctypes.c_double
    offset = fn(inlet.obj, ctypes.byref(remote), ctypes.byref(uncertainty), ctypes.c_double(timeout),
                ctypes.byref(errcode))
    handle_error(errcode)
    return float(offset), float(uncertainty.value)
