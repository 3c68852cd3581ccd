"""From recorded push and receive times to latency figures: matching, loss, percentiles, CDF points.

A player records the push time of every sample (index = the sample's sequence number); a consumer
records, per received sample, its LSL timestamp, the receive time and (for relays that rewrite
timestamps) the sequence number carried in a channel. Both are ``local_clock()`` values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
def cdf_quantiles() -> np.ndarray:
    """Quantile levels stored per path for CDF plots: every 2 % up to 0.9, then log-spaced up to 0.9999, and 1."""
    body = np.linspace(0.0, 0.9, 46)
    tail = 1.0 - np.geomspace(0.1, 1e-4, 41)[1:]
    return np.concatenate([body, tail, [1.0]])


def match(pushed: np.ndarray, rec: np.ndarray, window: tuple[float, float], by_seq: bool = False) -> dict[str, Any]:
    """Latencies (ms) and loss of the samples pushed inside ``window`` (push times, inclusive).

    Parameters
    ----------
    pushed
        ``[n]`` push time of sample ``seq`` (ascending).
    rec
        ``[m, 3]`` rows ``(timestamp, receive time, seq)`` from the consumer.
    window
        ``(t_start, t_end)`` in push time: only samples pushed inside it count.
    by_seq
        Pair received rows with pushes by the seq column (for paths that alter timestamps) instead of by
        exact timestamp equality.

    Returns
    -------
    dict
        ``latency_ms`` (array, in push order), ``n_pushed``, ``n_received``, ``lost``, ``duplicates``,
        ``unmatched`` (received rows that match no push), and with ``by_seq`` the ``timestamp_error_ms``
        percentiles (output timestamp minus true push time).
    """
    t0, t1 = window
    lo, hi = int(np.searchsorted(pushed, t0, "left")), int(np.searchsorted(pushed, t1, "right"))
    n_pushed = hi - lo
    if len(rec) == 0:
        return {"latency_ms": np.empty(0), "n_pushed": n_pushed, "n_received": 0, "lost": n_pushed,
                "duplicates": 0, "unmatched": 0}
    if by_seq:
        seq = np.rint(rec[:, 2]).astype(np.int64)
        valid = (seq >= 0) & (seq < len(pushed))
        idx = np.where(valid, seq, -1)
    else:
        pos = np.searchsorted(pushed, rec[:, 0])
        pos_c = np.minimum(pos, len(pushed) - 1)
        valid = pushed[pos_c] == rec[:, 0]
        idx = np.where(valid, pos_c, -1)
    unmatched = int((~valid).sum())
    inside = valid & (idx >= lo) & (idx < hi)
    idx_in = idx[inside]
    uniq, first = np.unique(idx_in, return_index=True)
    lat = (rec[inside, 1][first] - pushed[uniq]) * 1e3
    out: dict[str, Any] = {"latency_ms": lat, "n_pushed": n_pushed, "n_received": int(len(uniq)),
                           "lost": int(n_pushed - len(uniq)), "duplicates": int(len(idx_in) - len(uniq)),
                           "unmatched": unmatched}
    if by_seq and len(uniq):
        err = (rec[inside, 0][first] - pushed[uniq]) * 1e3
        out["timestamp_error_ms"] = {"p50": float(np.median(err)), "min": float(err.min()),
                                     "max": float(err.max())}
    return out


def summarise(lat_ms: np.ndarray) -> dict[str, Any]:
    """p50/p90/p99/p99.9/max/mean (ms), n, and CDF quantile values (ms) of a latency sample."""
    if len(lat_ms) == 0:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "p99_9": None, "max": None, "mean": None,
                "cdf_ms": None}
    ps = np.percentile(lat_ms, PERCENTILES)
    return {
        "n": int(len(lat_ms)),
        "p50": float(ps[0]), "p90": float(ps[1]), "p99": float(ps[2]), "p99_9": float(ps[3]),
        "max": float(lat_ms.max()), "mean": float(lat_ms.mean()),
        "cdf_ms": [round(float(v), 4) for v in np.quantile(lat_ms, cdf_quantiles())],
    }


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing or ``b`` is 0."""
    if a is None or b is None or b == 0:
        return None
    return float(a) / float(b)
