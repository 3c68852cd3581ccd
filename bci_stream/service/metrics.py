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
    """

    def __init__(self) -> None:
        self.counts = [0] * (len(EDGES) + 1)
        self.total = 0.0
        self.n = 0
        self.max = 0.0
        self.peak = 0.0

    def observe(self, value: float) -> None:
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

    def observe_many(self, values: np.ndarray) -> None:
        if len(values) <= 16:  # a chunk's few values: one bisect each is cheaper than numpy's per-call cost
            for value in values.tolist():
                self.observe(value)
            return
        if len(values) == 0:
            return
        add = np.bincount(np.searchsorted(EDGES, values), minlength=len(self.counts))
        self.counts = [a + int(b) for a, b in zip(self.counts, add)]
        self.total += float(values.sum())
        self.n += len(values)
        top = float(values.max())
        self.max, self.peak = max(self.max, top), max(self.peak, top)

    def to_dict(self) -> dict:
        return {"counts": list(self.counts), "sum": self.total, "n": self.n, "max": self.max}


def add_histograms(a: dict[str, dict], b: dict[str, dict]) -> dict[str, dict]:
    """Histogram dicts (:meth:`LatencyHistogram.to_dict`) by stage, ``a + b``: counts, ``sum`` and ``n`` added, ``max``
    the larger (None: not known); a stage in one of them only is taken as it is. The cumulative histograms of two
    worker generations summed are what one process would have counted (a Prometheus histogram never goes back)."""
    out = {k: dict(h) for k, h in a.items()}
    for stage, h in b.items():
        if (g := out.get(stage)) is None:
            out[stage] = dict(h)
            continue
        tops = [v for v in (g.get("max"), h.get("max")) if v is not None]
        out[stage] = {"counts": [x + y for x, y in zip(g["counts"], h["counts"], strict=True)],
                      "sum": g["sum"] + h["sum"], "n": g["n"] + h["n"], "max": max(tops) if tops else None}
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
    if i >= len(EDGES):
        return float(EDGES[-1])
    hi = EDGES[i]
    lo = EDGES[i - 1] if i > 0 else EDGES[0] / 10 ** (1 / 8)
    below = cum[i - 1] if i > 0 else 0.0
    frac = (rank - below) / counts[i] if counts[i] else 1.0
    return float(lo * (hi / lo) ** min(max(frac, 0.0), 1.0))


def quantile(hist: dict, q: float) -> float | None:
    """The q-th percentile (0-100, seconds) of a histogram dict, never above its observed ``max`` (interpolation
    inside the top bucket would reach up to the bucket's edge, a third above what was measured)."""
    v = percentile(hist["counts"], q)
    top = hist.get("max")
    return v if v is None or top is None else min(v, top)


def summarise(hist: dict, quantiles: tuple[float, ...] = (50, 90, 99, 99.9)) -> dict:
    """Percentiles in milliseconds (keys ``p50`` ...), count, mean and max of a histogram dict (``max`` None: not
    known; the percentiles are then not capped)."""
    out: dict = {"count": hist["n"]}
    top = hist["max"]
    for q in quantiles:
        v = quantile(hist, q)
        out[f"p{q:g}".replace(".", "_")] = None if v is None else v * 1e3
    out["mean"] = hist["sum"] / hist["n"] * 1e3 if hist["n"] else None
    out["max"] = top * 1e3 if hist["n"] and top is not None else None
    return out
