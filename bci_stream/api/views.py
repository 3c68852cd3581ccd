"""Turn the supervisor's typed worker snapshots into API responses."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from bci_stream.api.schemas import DecoderStatus, LatencySummary, LoadStatus, StallStatus
from bci_stream.core.status import Counters
from bci_stream.service.metrics import summarise
from bci_stream.service.selector_matches import with_matches
from bci_stream.service.supervisor import DecoderHandle


def load_status(load: dict[str, Any] | None) -> LoadStatus | None:
    """The worker's recent-window figures (``bci_stream.service.liveness``), percentiles from its histograms."""
    if load is None:
        return None
    figures = {k: v for k, v in load.items() if k != "hist"}
    return LoadStatus(**figures, latency_ms={k: LatencySummary(**summarise(h)) for k, h in load["hist"].items()})


def decoder_status(handle: DecoderHandle, counters: dict[str, int] | None = None) -> DecoderStatus:
    """The decoder's status; ``counters``: a command's answer (swap, reset), newer than the last snapshot, then
    in ``counters`` and in ``totals``."""
    s = handle.status
    latest = s.counters if counters is None else Counters(**counters)
    labels, last = s.labels, s.last_output
    last_label = None
    if labels and last and len(labels) == len(last) and all(map(math.isfinite, last)):
        last_label = labels[max(range(len(last)), key=last.__getitem__)]  # (a non-finite row: none; was the first)
    return DecoderStatus(
        id=handle.id,
        state=s.state,
        pid=s.pid,
        created=handle.created,
        restarts=handle.restarts,
        restart_in_s=handle.restart_in(),
        exit_code=handle.exit_code,
        last_error=handle.last_error,
        request=handle.spec.model_dump(),
        model=s.model,
        stream=with_matches(s.stream, handle.also_matching),
        output_stream=s.output_stream,
        connected=s.state == "running" or (s.state == "stalled" and s.source_present is True)
        or (s.state == "connecting" and "waiting_for_consumer_s" in (s.output_stream or {})),
        status_age_s=None if (age := handle.status_age()) is None else round(age, 3),
        stall=None if s.stall is None or s.state == "error" else StallStatus(**s.stall),  # an error is no stall
        counters=dataclasses.asdict(latest),
        totals=dataclasses.asdict(handle.totals(None if counters is None else latest)),
        latency_ms={k: LatencySummary(**summarise(h)) for k, h in s.hist.items()},
        load=load_status(s.load),
        last_output=last,
        last_label=last_label,
        clock_offset=s.clock_offset,
        clock_estimate=s.clock_estimate if s.clock_uncertainty is not None else None,
        clock_uncertainty=s.clock_uncertainty,
        clock_wait=s.clock_wait,
        record=s.record,
        state_norms=s.state_norms,
        gc=s.gc,
        markers=s.markers,
        scoring=s.scoring,
        timestamps=s.timestamps,
        worker=s.worker or handle.worker,
        placement=handle.placement,
    )
