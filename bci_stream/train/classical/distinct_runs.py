"""Calibration runs must be different recordings: one given twice (by two spellings, a copy, or converted to another
format) would let leave-one-run-out test each fold on the samples it was fitted on, and report in-sample figures as
cross-validated ones. So would a cropped copy of a run, or two overlapping pieces of one recording
(:mod:`~bci_stream.train.classical.shared_stretch`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from bci_stream.io.recording import Recording
from bci_stream.train.classical.shared_stretch import Overlap, overlap_words, shared_rows, shared_stretch

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
    rows = shared_rows(a, b)
    if rows is None:
        return False
    ia, ib = rows
    head_a, head_b = a.data[ia, :HEAD], b.data[ib, :HEAD]
    finite = np.abs(head_a)[np.isfinite(head_a)]
    atol = RTOL * float(finite.max()) if finite.size else 0.0
    return all(np.allclose(a.data[ia, i:i + step], b.data[ib, i:i + step], rtol=RTOL, atol=atol, equal_nan=True)
               for i, step in [(0, HEAD)] + [(i, BLOCK) for i in range(HEAD, n_times, BLOCK)])


class Repeat(NamedTuple):
    """Two calibration files of one recording: ``overlap`` None for an exact copy (:func:`same_samples`), else the
    stretch they share (a cropped copy, or overlapping pieces of one recording)."""

    earlier: Recording
    later: Recording
    overlap: Overlap | None = None


def copy_of(a: Recording, b: Recording) -> tuple[bool, Overlap | None]:
    """``(True, None)`` when ``a`` and ``b`` hold the same samples (:func:`same_samples`), ``(True, overlap)`` when
    they share a stretch (:func:`~bci_stream.train.classical.shared_stretch.shared_stretch`: one a cropped copy of
    the other, or overlapping), ``(False, None)`` otherwise."""
    if same_samples(a, b):
        return True, None
    ov = shared_stretch(a, b)
    return ov is not None, ov


def copy_words(a: Recording, b: Recording, name_a: str | None = None, name_b: str | None = None) -> str | None:
    """``"holds the same samples as A"`` (an exact copy) or ``"shares samples with A (12 s of B (from 0 s, sample 0)
    lie at 1 s (sample 160) of A: a cropped copy or an overlapping recording)"``, said of ``b``; None when ``a`` and
    ``b`` share no samples (:func:`copy_of`). ``name_a`` / ``name_b``: how to name them (default: their source)."""
    same, ov = copy_of(a, b)
    if not same:
        return None
    name_a = a.source if name_a is None else name_a
    if ov is None:
        return f"holds the same samples as {name_a}"
    words = overlap_words(name_a, b.source if name_b is None else name_b, a.sfreq, ov)
    return f"shares samples with {name_a} ({words}: a cropped copy or an overlapping recording)"


def repeated_run(recs: Sequence[Recording]) -> Repeat | None:
    """The first pair ``(earlier, later)`` of ``recs`` that hold the same samples or share a stretch of them, or
    None."""
    for j, later in enumerate(recs):
        for earlier in recs[:j]:
            same, ov = copy_of(earlier, later)
            if same:
                return Repeat(earlier, later, ov)
    return None


#: Why calibration files must be different runs (:func:`repeated_run_message`'s default).
CALIBRATION_WHY = ("every calibration file must be a different run (leave-one-run-out would test each fold on data "
                   "it was fitted on); give each recording once")


def repeated_run_message(pair: Repeat | tuple[Recording, Recording], why: str = CALIBRATION_WHY) -> str:
    """The refusal of ``pair`` (of :func:`repeated_run`): which file repeats which, and ``why`` that is refused."""
    earlier, later = pair[0], pair[1]
    ov = pair[2] if len(pair) > 2 else None
    if ov is not None:
        words = overlap_words(earlier.source, later.source, earlier.sfreq, ov)
        return (f"{later.source} shares samples with {earlier.source} ({words}: a cropped copy or an overlapping "
                f"recording, {ov.n} samples at {earlier.sfreq:g} Hz): {why}")
    return (f"{later.source} holds the same samples as {earlier.source} (the same file given twice, or a copy of it: "
            f"{earlier.data.shape[1]} samples at {earlier.sfreq:g} Hz): {why}")


__all__ = ["Repeat", "copy_of", "copy_words", "repeated_run", "repeated_run_message", "same_samples"]
