"""Two recordings that share a stretch of samples at some offset: one a cropped copy of the other (its start, its end
or both cut off), or two overlapping pieces of one recording (``a = x[0:N]``, ``b = x[M:N+M]``).

:func:`~bci_stream.train.classical.distinct_runs.same_samples` recognises a copy of the same length only; a run cut
by one second and given beside the original was taken for another run (leave-one-run-out then tested each fold on
samples it was fitted on).

Method: a probe (:data:`PROBE` samples of one channel, from the first stretch of a recording that is not flat) is
located in the other recording by an FFT normalised cross-correlation of first differences (no offset or drift
matters there), and each candidate offset is then verified over the whole overlap with ``allclose`` in blocks, with
the tolerances of ``same_samples``. Both directions are tried: the start of one recording lies in the other in
every case of a crop or an overlap.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from bci_stream.core.channels import normalise_ch_name
from bci_stream.io.recording import Recording

#: Samples of the probe located in the other recording.
PROBE = 256
#: The shortest overlap taken for a shared recording, in seconds (and at least :data:`PROBE` samples).
MIN_OVERLAP_S = 1.0
#: A candidate offset: normalised cross-correlation of the first differences at least this (a copy is ~1 - 1e-10).
MIN_NCC = 0.99
#: A probe found at more places than this (a periodic stretch, an amplifier's test sine) is replaced by a later one.
MOST = 8
#: "The same samples" (as :data:`~bci_stream.train.classical.distinct_runs.RTOL`).
RTOL = 1e-5
#: Probe windows tried per recording before giving up (each found at more than :data:`MOST` places).
PROBE_WINDOWS = 64
#: Probe windows found nowhere (or not verified) before two recordings are taken to share nothing: a copy may have a few
#: samples changed (NaN or inf, or what the loader holds in their place) in its first window.
PROBE_MISSES = 2
#: Samples compared at a time when verifying an overlap.
BLOCK = 65536
#: The share of an overlap's values that may differ (samples a reader or an exporter turned into NaN or inf in a copy,
#: and what the loaders hold in their place: ``nan_policy``): the overlap is the same recording when every other value
#: matches (two recordings that are not one share no stretch of a second to 1e-5).
MAX_UNLIKE_SHARE = 0.001


class Overlap(NamedTuple):
    """``a.data[:, start_a:start_a + n]`` holds the samples of ``b.data[:, start_b:start_b + n]``."""

    start_a: int
    start_b: int
    n: int


def shared_rows(a: Recording, b: Recording) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows of the channels ``a`` and ``b`` share by normalised name (at least half of the smaller set), in one
    order; all rows by position when they share fewer names and have as many channels (numbered channels); None
    otherwise."""
    keys_b = {normalise_ch_name(n): i for i, n in enumerate(b.ch_names)}
    pairs = [(i, keys_b[k]) for i, k in enumerate(normalise_ch_name(n) for n in a.ch_names) if k in keys_b]
    if len(pairs) >= max(1, min(len(a.ch_names), len(b.ch_names)) // 2):
        return np.array([i for i, _ in pairs]), np.array([j for _, j in pairs])
    if a.data.shape[0] == b.data.shape[0]:
        return np.arange(a.data.shape[0]), np.arange(b.data.shape[0])
    return None


def candidates(probe: ArrayLike, signal: ArrayLike, most: int | None = MOST) -> np.ndarray:
    """Where in ``signal`` (1-D) ``probe`` (1-D, shorter) may start, best first, at most ``most`` (None: all): the
    normalised cross-correlation of their first differences is at least :data:`MIN_NCC` and the stretch's variation is
    within a factor of 2 of the probe's (a flat stretch, or the same shape at another scale, is no copy). Empty when the
    probe is flat. NaN and inf count as 0 (a copy has them where the original has them, or in a few samples only: an inf
    mapped to 1.8e308, as ``nan_to_num`` does by default, made every correlation NaN, audit s61train F11)."""
    from scipy.signal import oaconvolve

    p = np.diff(finite_or_0(probe))
    s = np.diff(finite_or_0(signal))
    m = p.size
    if m < 2 or s.size < m:
        return np.empty(0, dtype=int)
    p = p - p.mean()
    energy = float(p @ p)
    if energy <= 0.0:
        return np.empty(0, dtype=int)
    dot = oaconvolve(s, p[::-1], mode="valid")  # sum_j p[j] s[k + j]; p has zero mean, so s's local mean drops out
    cs, cs2 = np.concatenate(([0.0], np.cumsum(s))), np.concatenate(([0.0], np.cumsum(s * s)))
    var = (cs2[m:] - cs2[:-m]) - (cs[m:] - cs[:-m]) ** 2 / m
    alike = (var >= energy / 2) & (var <= energy * 2)
    ncc = np.where(alike, dot / np.sqrt(energy * np.where(alike, var, 1.0)), 0.0)
    idx = np.flatnonzero(ncc >= MIN_NCC)
    return idx[np.argsort(-ncc[idx], kind="stable")][:most]  # [:None]: all


def first_probe(rec: Recording, rows: np.ndarray, size: int = PROBE, start: int = 0) -> tuple[int, int] | None:
    """``(sample, row)``: the first window of ``size`` samples from ``start`` (at multiples of ``size``) where a row
    of ``rows`` is not flat and holds no NaN or inf, and that row's index in ``rows`` (the one varying most there of
    those); None when every window is flat (a disconnected amplifier's zeros or a constant) or not finite."""
    n = rec.data.shape[1]
    chunk = size * 64
    for c in range(start, n - size + 1, chunk):
        block = np.asarray(rec.data[rows, c:min(c + chunk, n)], dtype=np.float64)
        nw = block.shape[1] // size
        if nw == 0:
            break
        w = finite_or_0(block[:, :nw * size]).reshape(len(rows), nw, size)
        ptp = w.max(axis=2) - w.min(axis=2)
        tol = RTOL * np.abs(w).max(axis=2)
        finite = np.isfinite(block[:, :nw * size]).reshape(len(rows), nw, size).all(axis=2)  # [row, window]
        usable = (ptp > tol) & finite  # a row that varies there and holds no NaN or inf (another row may: a dead one)
        varying = np.flatnonzero(usable.any(axis=0))
        if varying.size:
            k = int(varying[0])
            spread = np.where(usable[:, k], np.diff(w[:, k], axis=1).std(axis=1), -1.0)
            return c + k * size, int(np.argmax(spread))
    return None


def verified(a: Recording, ia: np.ndarray, b: Recording, ib: np.ndarray, offset: int, least: int) -> Overlap | None:
    """The overlap where ``b``'s sample ``i`` is ``a``'s ``i + offset``, when it is at least ``least`` samples and
    ``a`` and ``b`` hold the same values throughout it (to :data:`RTOL` of each value and of the largest value of its
    first samples, NaN where NaN) in the rows ``ia`` / ``ib``, but for at most :data:`MAX_UNLIKE_SHARE` of them (a few
    samples made NaN or inf in a copy, or held over by the loader); else None. Before, one such sample in a copy made
    it another recording (audit s61train F11)."""
    start_b = max(0, -offset)
    end_b = min(b.data.shape[1], a.data.shape[1] - offset)
    n = end_b - start_b
    if n < least:
        return None
    start_a = start_b + offset
    head = np.abs(np.asarray(a.data[ia, start_a:start_a + min(n, 2048)]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        top = np.nanmax(head) if head.size and np.isfinite(head).any() else 0.0
    atol = RTOL * float(top)
    unlike, most = 0, MAX_UNLIKE_SHARE * n * len(ia)
    for i in range(0, n, BLOCK):
        step = min(BLOCK, n - i)
        x, y = a.data[ia, start_a + i:start_a + i + step], b.data[ib, start_b + i:start_b + i + step]
        with np.errstate(invalid="ignore", over="ignore"):  # inf against inf or a number: unlike, said by isclose
            unlike += int(x.size - np.isclose(x, y, rtol=RTOL, atol=atol, equal_nan=True).sum())
        if unlike > most:
            return None
    return Overlap(start_a, start_b, n)


def finite_or_0(x: ArrayLike) -> np.ndarray:
    """``x`` as float64 with NaN and inf as 0."""
    return np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)


def shared_stretch(a: Recording, b: Recording, probe: int = PROBE) -> Overlap | None:
    """The stretch ``a`` and ``b`` share (same rate; the channels they share by name, or by position), when one is
    a cropped copy of the other or they overlap by at least :data:`MIN_OVERLAP_S` and ``probe`` samples, not all
    flat; None otherwise. An exact copy is an overlap of the whole (``Overlap(0, 0, n)``).

    Cost: one FFT correlation of one channel of each recording with a probe, and (for a copy) one pass over the
    overlap in blocks of :data:`BLOCK` samples; no whole copy of either recording is made."""
    if a.sfreq != b.sfreq:
        return None
    rows = shared_rows(a, b)
    if rows is None:
        return None
    ia, ib = rows
    least = max(probe, math.ceil(MIN_OVERLAP_S * float(a.sfreq)))
    # the start of b lies in a (b a crop of a, or b starting within a), then the start of a in b
    for x, rx, y, ry, flip in ((a, ia, b, ib, False), (b, ib, a, ia, True)):
        start = misses = 0
        for _ in range(PROBE_WINDOWS):
            found = first_probe(y, ry, probe, start)
            if found is None:
                if start == 0:
                    return None  # all flat: two runs of a disconnected amplifier are not "the same"
                break
            at, r = found
            offsets = _exact_offsets(x.data[rx[r]], np.asarray(y.data[ry[r], at:at + probe], dtype=np.float64))
            if offsets is None:  # the probe is everywhere (a test sine): the next window of y
                start = at + probe
                continue
            for k in offsets:  # all of them: the true one among them
                ov = verified(x, rx, y, ry, int(k) - at, least)
                if ov is not None:
                    return Overlap(ov.start_b, ov.start_a, ov.n) if flip else ov
            misses += 1  # not found: another recording, or a probe over samples a copy changed (NaN, held over)
            if misses >= PROBE_MISSES:
                break
            start = at + probe
    return None


def _exact_offsets(signal: np.ndarray, probe_values: np.ndarray) -> np.ndarray | None:
    """Where ``probe_values`` occurs in ``signal`` (:func:`candidates` equal to it within :data:`RTOL`), at most
    :data:`MOST`; None when it occurs more often (a periodic stretch: a probe elsewhere tells them apart)."""
    scale = RTOL * float(np.nanmax(np.abs(probe_values)))
    n = probe_values.size
    hits = [k for k in candidates(probe_values, signal, most=None)
            if np.allclose(signal[k:k + n], probe_values, rtol=RTOL, atol=scale, equal_nan=True)]
    return None if len(hits) > MOST else np.asarray(hits, dtype=int)


def overlap_words(name_a: str, name_b: str, sfreq: float, ov: Overlap) -> str:
    """``"12.5 s of B (from 0 s, sample 0) lie at 1 s (sample 160) of A"``: where the shared stretch lies in each."""
    sf = float(sfreq)
    return (f"{ov.n / sf:g} s of {name_b} (from {ov.start_b / sf:g} s, sample {ov.start_b}) lie at "
            f"{ov.start_a / sf:g} s (sample {ov.start_a}) of {name_a}")


__all__ = ["Overlap", "candidates", "first_probe", "overlap_words", "shared_rows", "shared_stretch", "verified"]
