"""Calibration runs must be different recordings: one given twice (by two spellings, a copy, or converted to another
format) would let leave-one-run-out test each fold on the samples it was fitted on, and report in-sample figures as
cross-validated ones."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bci_stream.core.channels import normalise_ch_name
from bci_stream.io.recording import Recording

#: Samples compared first (a different run differs within them: the whole arrays are compared only then).
HEAD = 2048
#: "The same samples": equal to this fraction of each value, and of the largest value of the first samples (near
#: zero; in any unit, volts read as µV included). A 16-bit EDF's values written as float32 (FIF) and read back differ by
#: about 1e-7 of their size.
RTOL = 1e-5
#: Samples compared at a time after the first :data:`HEAD`.
BLOCK = 65536


def same_samples(a: Recording, b: Recording) -> bool:
    """Do ``a`` and ``b`` hold the same samples (same rate and length, values to :data:`RTOL`, NaN where NaN) in
    the channels they share by name (:func:`~bci_stream.core.channels.normalise_ch_name`; by position when they
    share too few, half of the smaller set)? A copy in another format often has its channels in another order or
    one more or fewer (before: compared by position and shape, so such a copy was taken for another run).

    The first :data:`HEAD` samples are compared first, then the rest in blocks of :data:`BLOCK` samples: no whole
    copy of either recording is made (an hour at 1 kHz x 64 channels is 1.8 GB)."""
    n_times = a.data.shape[1]
    if a.sfreq != b.sfreq or n_times != b.data.shape[1]:
        return False
    rows = _shared_rows(a, b)
    if rows is None:
        return False
    ia, ib = rows
    head_a, head_b = a.data[ia, :HEAD], b.data[ib, :HEAD]
    finite = np.abs(head_a)[np.isfinite(head_a)]
    atol = RTOL * float(finite.max()) if finite.size else 0.0
    return all(np.allclose(a.data[ia, i:i + step], b.data[ib, i:i + step], rtol=RTOL, atol=atol, equal_nan=True)
               for i, step in [(0, HEAD)] + [(i, BLOCK) for i in range(HEAD, n_times, BLOCK)])


def _shared_rows(a: Recording, b: Recording) -> tuple[list[int] | slice, list[int] | slice] | None:
    """The rows of the channels ``a`` and ``b`` share by name, in one order; all rows when of one shape and sharing
    too few names (numbered channels); None otherwise."""
    keys_b = {normalise_ch_name(n): i for i, n in enumerate(b.ch_names)}
    pairs = [(i, keys_b[k]) for i, k in enumerate(normalise_ch_name(n) for n in a.ch_names) if k in keys_b]
    if len(pairs) >= max(1, min(len(a.ch_names), len(b.ch_names)) // 2):
        ia, ib = (list(t) for t in zip(*pairs))
        return ia, ib
    return (slice(None), slice(None)) if a.data.shape == b.data.shape else None


def repeated_run(recs: Sequence[Recording]) -> tuple[Recording, Recording] | None:
    """The first pair ``(earlier, later)`` of ``recs`` that hold the same samples, or None."""
    for j, later in enumerate(recs):
        for earlier in recs[:j]:
            if same_samples(earlier, later):
                return earlier, later
    return None


def repeated_run_message(pair: tuple[Recording, Recording]) -> str:
    earlier, later = pair
    return (f"{later.source} holds the same samples as {earlier.source} (the same file given twice, or a copy of it: "
            f"{earlier.data.shape[1]} samples x {earlier.data.shape[0]} channels at {earlier.sfreq:g} Hz): every "
            f"calibration file must be a different run (leave-one-run-out would test each fold on data it was fitted "
            f"on); give each recording once")


__all__ = ["repeated_run", "repeated_run_message", "same_samples"]
