"""Fixed-bucket latency histograms: cheap to update in the hot loop, mergeable, exportable."""

from __future__ import annotations

from bisect import bisect_left

import numpy as np

#: Upper bucket edges in seconds, log-spaced from 1 µs to 100 s (8 buckets per decade). A value v
#: falls in the first bucket whose edge is >= v; the last count is the overflow (> 100 s).
EDGES = np.geomspace(1e-6, 100.0, 8 * 8 + 1)
_EDGES = EDGES.tolist()


class LatencyHistogram:
    """Counts of latencies (seconds) per fixed bucket, plus count, sum and max.

    A scalar update is a ``bisect`` on a Python list (well under a µs: the hot loop updates five of these
    per chunk); arrays go through numpy. ``peak`` is the largest value since the last :meth:`take_peak` (a recent
    window's max, which a difference of cumulative histograms cannot give).

    A value below zero is no latency: an ``e2e`` value (publish time minus the input sample's timestamp) is negative
    when the sender stamps its samples ahead of this host's clock (mne-lsl's ``PlayerLSL`` stamps a chunk up to its
    length in the future). Such values are not measurable, so they stay out of the buckets, ``n`` and ``total``
    (the percentiles, mean and Prometheus histogram describe the measured values only) and are counted apart:
    ``n_negative``, and ``min`` the most negative one.
    """

    def __init__(self) -> None:
        self.counts = [0] * (len(EDGES) + 1)
        self.total = 0.0
        self.n = 0
        self.max = 0.0
        self.peak = 0.0
        self.n_negative = 0
        self.min = 0.0  # the most negative value (0.0: none below zero)
        self.trough = 0.0  # the most negative value since the last take_trough (the recent window's)

    def observe(self, value: float) -> None:
        if value < 0.0:
            self.n_negative += 1
            self.min = min(self.min, value)
            self.trough = min(self.trough, value)
            return
        self.counts[bisect_left(_EDGES, value)] += 1
        self.total += value
        self.n += 1
        if value > self.peak:
            self.peak = value
            if value > self.max:
                self.max = value

    def take_peak(self) -> float:
        """The largest value since the last call (0.0: none), and start anew."""
        peak, self.peak = self.peak, 0.0
        return peak

    def take_trough(self) -> float:
        """The most negative value since the last call (0.0: none below zero), and start anew."""
        trough, self.trough = self.trough, 0.0
        return trough

    def observe_many(self, values: np.ndarray) -> None:
        if len(values) <= 16:  # a chunk's few values: one bisect each is cheaper than numpy's per-call cost
            for value in values.tolist():
                self.observe(value)
            return
        if len(values) == 0:
            return
        if (low := float(values.min())) < 0.0:
            negative = values < 0.0
            self.n_negative += int(negative.sum())
            self.min, self.trough = min(self.min, low), min(self.trough, low)
            values = values[~negative]
            if len(values) == 0:
                return
        add = np.bincount(np.searchsorted(EDGES, values), minlength=len(self.counts))
        self.counts = [a + int(b) for a, b in zip(self.counts, add)]
        self.total += float(values.sum())
        self.n += len(values)
        top = float(values.max())
        self.max, self.peak = max(self.max, top), max(self.peak, top)

    def to_dict(self) -> dict:
        """``counts``, ``sum``, ``n``, ``max`` of the measured values; ``n_negative`` and ``min`` of those below zero,
        when there are any (readers take a missing ``n_negative`` for 0)."""
        out = {"counts": list(self.counts), "sum": self.total, "n": self.n, "max": self.max}
        return out if not self.n_negative else {**out, "n_negative": self.n_negative, "min": self.min}


def add_histograms(a: dict[str, dict], b: dict[str, dict]) -> dict[str, dict]:
    """Histogram dicts (:meth:`LatencyHistogram.to_dict`) by stage, ``a + b``: counts, ``sum``, ``n`` and
    ``n_negative`` (when either has some) added, ``max`` the larger and ``min`` the smaller (None: not known); a stage
    in one of them only is taken as it is. The cumulative histograms of two worker generations summed are what one
    process would have counted (a Prometheus histogram never goes back)."""
    out = {k: dict(h) for k, h in a.items()}
    for stage, h in b.items():
        if (g := out.get(stage)) is None:
            out[stage] = dict(h)
            continue
        tops = [v for v in (g.get("max"), h.get("max")) if v is not None]
        out[stage] = {"counts": [x + y for x, y in zip(g["counts"], h["counts"], strict=True)],
                      "sum": g["sum"] + h["sum"], "n": g["n"] + h["n"], "max": max(tops) if tops else None}
        if n_neg := g.get("n_negative", 0) + h.get("n_negative", 0):
            lows = [v for v in (g.get("min"), h.get("min")) if v is not None]
            out[stage].update(n_negative=n_neg, min=min(lows) if lows else None)
    return out


def percentile(counts: list[int] | np.ndarray, q: float) -> float | None:
    """The q-th percentile (0-100) from bucket counts, interpolated geometrically inside a bucket."""
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.sum()
    if n == 0:
        return None
    rank = q / 100.0 * n
    cum = np.cumsum(counts)
    i = int(np.searchsorted(cum, rank, side="left"))
    i = min(i, len(counts) - 1)
    if i >= len(EDGES):  # the overflow bucket (> 100 s) has no upper edge: its values are known by the max only
        return float("inf")
    hi = EDGES[i]
    lo = EDGES[i - 1] if i > 0 else EDGES[0] / 10 ** (1 / 8)
    below = cum[i - 1] if i > 0 else 0.0
    frac = (rank - below) / counts[i] if counts[i] else 1.0
    return float(lo * (hi / lo) ** min(max(frac, 0.0), 1.0))


def quantile(hist: dict, q: float) -> float | None:
    """The q-th percentile (0-100, seconds) of a histogram dict, never above its observed ``max`` (interpolation
    inside the top bucket would reach up to the bucket's edge, a third above what was measured); one in the overflow
    bucket (above 100 s) is the max (None: not known)."""
    v = percentile(hist["counts"], q)
    top = hist.get("max")
    if v is not None and v == float("inf"):
        return top
    return v if v is None or top is None else min(v, top)


def summarise(hist: dict, quantiles: tuple[float, ...] = (50, 90, 99, 99.9)) -> dict:
    """Of a histogram dict: ``count`` (every value observed), then percentiles in milliseconds (keys ``p50`` ...),
    mean and max of the measured ones (``max`` None: not known; the percentiles are then not capped).

    Values below zero (see :class:`LatencyHistogram`), in ``count`` but in none of the figures: ``n_negative``,
    ``ahead_ms`` (minus the most negative, in ms; None: none below zero, or not known) and a ``note`` saying what
    they mean (None when there are none)."""
    n_neg, low = hist.get("n_negative", 0), hist.get("min")
    out: dict = {"count": hist["n"] + n_neg}
    top = hist["max"]
    for q in quantiles:
        v = quantile(hist, q)
        out[f"p{q:g}".replace(".", "_")] = None if v is None else v * 1e3
    out["mean"] = hist["sum"] / hist["n"] * 1e3 if hist["n"] else None
    out["max"] = top * 1e3 if hist["n"] and top is not None else None
    out["n_negative"] = n_neg
    out["ahead_ms"] = -low * 1e3 if n_neg and low is not None else None
    n_over = hist["counts"][-1] if len(hist["counts"]) > len(EDGES) else 0
    notes = [negative_note(n_neg, out["count"], out["ahead_ms"])] if n_neg else []
    if n_over:
        notes.append(overflow_note(n_over, out["count"]))
    out["note"] = "; ".join(notes) or None
    return out


def overflow_note(n_over: int, n_all: int) -> str:
    """What ``n_over`` of ``n_all`` values above the top bucket edge (100 s) mean, in words for the status."""
    return (f"{n_over} of {n_all} values above {EDGES[-1]:g} s: input timestamps far behind this host's clock (a "
            "sender stamping samples with a clock of its own instead of LSL's local_clock, or an uncorrected clock "
            "offset), or a decoder that far behind its stream (status load.backlog_s says which); percentiles among "
            "them read as the max")


def negative_note(n_negative: int, n_all: int, ahead_ms: float | None) -> str:
    """What ``n_negative`` of ``n_all`` values below zero mean, in words for the status."""
    by = "" if ahead_ms is None else f" by up to {ahead_ms:.1f} ms"
    return (f"{n_negative} of {n_all} values below zero: input timestamps ahead of this host's clock{by} (a sender "
            "stamping samples in the future, e.g. mne-lsl PlayerLSL, or an uncorrected clock offset); e2e is not "
            "measurable for those samples (left out of the percentiles, mean and max) and may read low by as much "
            "for the others")
