"""A recording's content print: a few statistics of its first samples per channel, enough to recognise the same
recording in another file (a copy in another format, its channels in another order, some left out or renamed by
case), small enough for a model card (``training.files_content``, beside ``training.files_sha256``).

``evaluate`` compares each file it scores with the prints of the model's training files
(:func:`~bci_stream.train.evaluate.in_sample.in_sample_warnings`): a file's sha256 recognises a byte-identical copy
only; a training recording re-saved in another format (EDF read and written as FIF by mne, its channels reordered)
has other bytes, and its figures were reported as test figures without a warning.

The print also holds a few short probes (:data:`PROBES` stretches of :data:`PROBE` samples of one channel, spread
over the recording, each with its sample index): :func:`found_in` looks for them in a file, so a training file
cropped by half a second (the statistics of its first samples then differ) is recognised too. Cards made before
hold no probes: only :func:`same_content` applies to them.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

from bci_stream.core.channels import normalise_ch_name
from bci_stream.io.recording import UNIT, Recording

#: Samples the print is taken over (from the first): about 13 s at 160 Hz, 2 s at 1 kHz.
HEAD = 2048
#: Probes per print, spread evenly over the recording (the first at its start, the last at its end).
PROBES = 8
#: Samples per probe (a probe needs at least PROBE // 2 distinct values: a step of a trigger-like channel is none).
PROBE = 32
#: "The same": each statistic equal to this fraction of itself, and of the largest RMS of the shared channels (a
#: 16-bit EDF's values written as float32 and read back differ by about 1e-7 of their size; another recording of the
#: same montage differs by far more than this in some channel).
RTOL = 1e-4


def content_print(rec: Recording) -> dict[str, Any]:
    """``sfreq``, ``n_times``, ``ch_names`` and, per channel over the first :data:`HEAD` samples, ``mean`` and ``rms``
    (7 significant digits; NaN, for a channel of no finite sample there, as null); ``probes`` (:func:`probes`)."""
    return {**content_stats(rec), "probes": probes(rec)}


def content_stats(rec: Recording) -> dict[str, Any]:
    """The statistics of :func:`content_print`, without its probes."""
    head = np.asarray(rec.data[:, :HEAD], dtype=np.float64)
    with warnings.catch_warnings():  # a channel of no finite sample: "mean of empty slice", its statistics NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, rms = np.nanmean(head, axis=1), np.sqrt(np.nanmean(head ** 2, axis=1))
    return {"sfreq": float(rec.sfreq), "n_times": int(rec.data.shape[1]), "ch_names": list(rec.ch_names),
            "mean": [_num(v) for v in mean], "rms": [_num(v) for v in rms]}


def _voltage_rows(rec: Recording) -> np.ndarray:
    """The rows of voltage channels that are not triggers (all rows when none is)."""
    units = rec.ch_units or [UNIT] * rec.data.shape[0]
    types = rec.ch_types or ["eeg"] * rec.data.shape[0]
    rows = [i for i, (u, t) in enumerate(zip(units, types)) if u == UNIT and t.lower() not in ("stim", "misc")]
    return np.array(rows or range(rec.data.shape[0]), dtype=int)


def probes(rec: Recording) -> list[dict[str, Any]]:
    """Up to :data:`PROBES` probes: ``{"at": sample, "ch": row, "values": [PROBE values, 7 significant digits]}``,
    from windows spread evenly over ``rec``: from each spot, the first window onwards (else backwards) within its
    share of the recording where a voltage channel varies in at least ``PROBE // 2`` distinct values, all finite; of
    those channels the one varying most that no earlier probe is of (so a file with some channels left out still
    holds most probes), else the one varying most."""
    n = rec.data.shape[1]
    if n < PROBE:
        return []
    rows, out, used = _voltage_rows(rec), [], set()
    share = max(PROBE, n // PROBES)
    for k in range(PROBES):
        at0 = round(k * (n - PROBE) / (PROBES - 1))
        ahead = range(at0, min(at0 + share, n - PROBE + 1), PROBE)
        for at in [*ahead, *range(at0 - PROBE, max(at0 - share, -1), -PROBE)]:  # else back (a flat end: padding)
            raw = np.asarray(rec.data[rows, at:at + PROBE], dtype=np.float64)
            w = np.nan_to_num(raw)
            spread = np.diff(w, axis=1).std(axis=1)
            order = sorted(range(len(rows)), key=lambda i: (int(rows[i]) in used, -spread[i]))  # unused first
            # a probe holds finite values only (a NaN stored as a number would match no copy of it)
            row = next((i for i in order if len(np.unique(w[i])) >= PROBE // 2 and np.isfinite(raw[i]).all()), None)
            if row is not None:
                used.add(int(rows[row]))
                if all(p["at"] != at for p in out):
                    out.append({"at": at, "ch": int(rows[row]), "values": [_num(v) for v in w[row]]})
                break
    return out


class Found(NamedTuple):
    """The printed recording's samples ``start_printed:start_printed + n`` lie at ``start`` in the file searched;
    ``probes`` of its probes were found there."""

    start_printed: int
    start: int
    n: int
    probes: int


def found_in(printed: Any, rec: Recording) -> Found | None:
    """Where the recording ``printed`` (a :func:`content_print` with probes) was taken of lies in ``rec`` (of the same
    rate): at least two of its probes found at one offset (values to :data:`RTOL`, in the channel of the probe's
    name, or position as :func:`same_content` matches them), and every probe that lies within ``rec`` at that offset
    found there. A cropped copy, or a recording overlapping it by about two of the :data:`PROBES` probes' spacing or
    more. None for a print without probes (an older card), or anything that is not a print."""
    from bci_stream.train.classical.shared_stretch import candidates

    try:
        sfreq, n_times, names = float(printed["sfreq"]), int(printed["n_times"]), list(printed["ch_names"])
        spots = [(int(p["at"]), int(p["ch"]), np.array(p["values"], dtype=np.float64)) for p in printed["probes"]]
    except (TypeError, KeyError, ValueError):
        return None
    pairs = _pairs(names, rec)
    if sfreq != rec.sfreq or pairs is None or not spots:
        return None
    row_of, n = dict(pairs), rec.data.shape[1]
    spots = [(at, row_of[ch], v) for at, ch, v in spots if ch in row_of and v.ndim == 1 and v.size >= 2]

    def there(start: int, row: int, values: np.ndarray) -> bool:
        got = rec.data[row, start:start + values.size]
        scale = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0
        return got.size == values.size and bool(np.allclose(got, values, rtol=RTOL, atol=RTOL * scale,
                                                            equal_nan=True))

    votes: dict[int, int] = {}
    for at, row, values in spots:
        for start in {int(s) for s in candidates(values, rec.data[row]) if there(int(s), row, values)}:
            votes[at - start] = votes.get(at - start, 0) + 1
    best = max(votes.items(), key=lambda kv: (kv[1], -abs(kv[0])), default=None)
    if best is None or best[1] < min(2, len(spots)):
        return None
    shift = best[0]  # the printed recording's sample i lies at i - shift of rec
    inside = [(at, row, v) for at, row, v in spots if 0 <= at - shift <= n - v.size]
    if not all(there(at - shift, row, v) for at, row, v in inside):
        return None
    first, last = max(0, shift), min(n_times, n + shift)
    return Found(first, first - shift, last - first, len(inside))


def same_content(printed: Any, rec: Recording) -> bool:
    """Does ``rec`` hold the samples ``printed`` (a :func:`content_print`, as a card holds it) was taken of: the same
    rate and length, and the same statistics in the channels both have (by normalised name when they share at least
    half of the smaller set; else by position when of the same count)? False for anything that is not a print."""
    try:
        sfreq, n_times, names = float(printed["sfreq"]), int(printed["n_times"]), list(printed["ch_names"])
        stats = np.array([printed["mean"], printed["rms"]], dtype=np.float64)  # null -> nan
    except (TypeError, KeyError, ValueError):
        return False
    if stats.shape != (2, len(names)) or sfreq != rec.sfreq or n_times != rec.data.shape[1]:
        return False
    pairs = _pairs(names, rec)
    if pairs is None:
        return False
    mine = content_stats(rec)
    ours = np.array([mine["mean"], mine["rms"]], dtype=np.float64)
    a, b = stats[:, [i for i, _ in pairs]], ours[:, [j for _, j in pairs]]
    scale = np.nanmax(np.abs(a[1])) if np.isfinite(a[1]).any() else 0.0
    return bool(np.allclose(a, b, rtol=RTOL, atol=RTOL * scale, equal_nan=True))


def _pairs(names: list[str], rec: Recording) -> list[tuple[int, int]] | None:
    """``(printed row, rec row)`` of the channels both have: by normalised name when they share at least half of the
    smaller set, else by position when of the same count; None otherwise."""
    keys = {normalise_ch_name(n): i for i, n in enumerate(rec.ch_names)}
    pairs = [(i, keys[k]) for i, k in enumerate(normalise_ch_name(n) for n in names) if k in keys]
    if len(pairs) < max(1, min(len(names), len(keys)) // 2):
        if len(names) != len(rec.ch_names):
            return None
        pairs = [(i, i) for i in range(len(names))]
    return pairs


def _num(v: float) -> float | None:
    return float(f"{v:.7g}") if np.isfinite(v) else None


__all__ = ["Found", "content_print", "found_in", "probes", "same_content"]
