"""Liveness and the service-wide status."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from bci_stream import __version__
from bci_stream.api.deps import SupervisorDep
from bci_stream.api.schemas import ServiceStatus
from bci_stream.api.views import decoder_status

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """The service is up."""
    return {"status": "ok", "version": __version__}


@router.get("/status", response_model=ServiceStatus)
def service_status(request: Request, supervisor: SupervisorDep) -> ServiceStatus:
    """Every decoder: state, stream connected, samples in/out, model name and sha, latency percentiles."""
    decoders = [decoder_status(h) for h in supervisor.list()]
    return ServiceStatus(
        version=__version__,
        uptime_s=time.monotonic() - request.app.state.started,
        n_decoders=len(decoders),
        decoders=decoders,
    )
