"""Turn the supervisor's raw worker snapshots into API responses."""

from __future__ import annotations

from bci_stream.api.schemas import DecoderStatus, LatencySummary
from bci_stream.runtime.metrics import summarise
from bci_stream.runtime.supervisor import DecoderHandle


def decoder_status(handle: DecoderHandle) -> DecoderStatus:
    s = handle.status
    labels = (s.get("model") or {}).get("labels")
    last = s.get("last_output")
    last_label = None
    if labels and last and len(labels) == len(last):
        last_label = labels[max(range(len(last)), key=last.__getitem__)]
    state = s.get("state", "starting")
    return DecoderStatus(
        id=handle.id,
        state=state,
        pid=s.get("pid"),
        created=handle.created,
        restarts=handle.restarts,
        exit_code=handle.exit_code,
        last_error=handle.last_error,
        request=handle.spec.model_dump(),
        model=s.get("model"),
        stream=s.get("stream"),
        output_stream=s.get("output_stream"),
        connected=state in ("running", "stalled"),
        counters=s.get("counters", {}),
        latency_ms={k: LatencySummary(**summarise(h)) for k, h in (s.get("hist") or {}).items()},
        last_output=last,
        last_label=last_label,
        clock_offset=s.get("clock_offset"),
        clock_uncertainty=s.get("clock_uncertainty"),
        record=s.get("record"),
        state_norms=s.get("state_norms"),
        gc=s.get("gc"),
    )
