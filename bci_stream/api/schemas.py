"""Response bodies of the HTTP API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class LatencySummary(BaseModel):
    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    p99_9: float | None
    mean: float | None
    max: float | None


class DecoderStatus(BaseModel):
    """A decoder as the service sees it. Latencies are in milliseconds."""

    id: str
    state: str
    pid: int | None
    created: float
    restarts: int
    exit_code: int | None
    last_error: str | None
    request: dict[str, Any]
    model: dict[str, Any] | None
    stream: dict[str, Any] | None
    output_stream: dict[str, Any] | None
    connected: bool
    """The decoder's inlet is bound to a live source: ``running``, or ``stalled`` while the outlet instance it decodes
    is still up (silent; after the first source check of the stall)."""
    status_age_s: float | None = None
    """Seconds since the worker's latest status snapshot. A running worker sends one every ``status_interval``;
    one much older (``/ready`` lists it in ``decoders_unresponsive``) means the worker is hung."""
    counters: dict[str, int]
    latency_ms: dict[str, LatencySummary]
    last_output: list[float] | None
    last_label: str | None
    clock_offset: float | None
    clock_uncertainty: float | None = None
    record: dict[str, Any] | None = None
    state_norms: dict[str, list[float]] | None = None
    gc: dict[str, Any] | None = None
    """The worker's Python garbage collector: ``collections`` per generation (0, 1, 2). A full (generation 2)
    collection scans every object of the worker (~90k) and can stall the hot loop for tens of ms."""
    markers: dict[str, Any] | None = None
    """The marker stream followed (``options.markers``): ``state`` (``searching``, ``connected``, ``lost``,
    ``error``), the LSL stream, markers received, the last one and the ``recent`` ones (this host's clock)."""
    scoring: dict[str, Any] | None = None
    """Live trial scoring: ``trials``, ``correct``, ``accuracy`` and its Wilson ``ci95`` at ``decision_time_s``
    after each cue, ``per_class``, the ``last`` trials, ``pending`` and ``missed`` cues, unmapped markers;
    ``{"off": reason}`` when the model's outputs cannot be scored."""
    worker: dict[str, Any] | None = None
    """Which worker process serves this decoder: ``kind`` (``dedicated``: a process of its own; ``shared``: one of
    the service's shared workers, ``index`` in the pool), its ``pid``, and after a shared worker's restart
    ``restored_seq`` (the input sample its restored state snapshot was taken at)."""
    placement: dict[str, Any] | None = None
    """Where its worker runs: ``backend`` (``local`` | ``ray``), ``node_id`` (Ray) and ``hostname`` of the node,
    ``worker`` (its kind and pid), and ``requested`` (``options.placement``, or null)."""
    timestamps: dict[str, Any] | None = None
    """Repair of chunk-stamped senders' timestamps (``options.timestamp_repair``): ``mode``, ``active``,
    ``detected``, ``jitter_before_ms``/``jitter_after_ms`` (std of the sample steps), ``rate_hz``, counts."""


class ServiceStatus(BaseModel):
    version: str
    uptime_s: float
    n_decoders: int
    decoders: list[DecoderStatus]


class Created(BaseModel):
    id: str
    state: str
    url: str
