"""Memory time constants of per-sample decay factors, and how the reports store them in JSON.

A quantity that is multiplied by ``decay`` every sample of length ``Δt`` decays as
``exp(-t / τ)`` with ``τ = -Δt / ln(decay)``. The reports of :mod:`bci_stream.analysis.introspect`
are strict JSON, so an infinite time constant (``decay >= 1``: no decay) is stored as the string
``"inf"`` (:data:`INF`).
"""

from __future__ import annotations

import math

__all__ = ["INF", "decay_tau_ms", "json_float", "from_json_float"]

#: How an infinite time constant is written in a JSON report.
INF = "inf"


def decay_tau_ms(decay: float, dt_ms: float) -> float:
    """``-Δt / ln(decay)`` in ms for a per-sample decay factor ``decay >= 0``; inf when ``decay >= 1``."""
    if decay >= 1.0:
        return math.inf
    if decay <= 0.0:
        return 0.0
    return -dt_ms / math.log(decay)


def json_float(value: float) -> float | str:
    """A float for JSON: ``"inf"`` for +inf (NaN never occurs here)."""
    return INF if math.isinf(value) else float(value)


def from_json_float(value: float | str | None) -> float:
    """Inverse of :func:`json_float`: ``"inf"`` -> +inf, and None (no such value) -> NaN."""
    if value is None:
        return math.nan
    return math.inf if value == INF else float(value)

