"""Liveness and the service-wide status."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bci_stream import __version__
from bci_stream.api.deps import (TOKEN_QUERY, Authorised, RecordingsDep, RegistryDep, SettingsDep, SupervisorDep,
                                 token_ok)
from bci_stream.api.boot_decoders import not_started
from bci_stream.api.error_docs import errors
from bci_stream.api.schemas import ReadyAnswer, RecordingStatus, ServiceStatus
from bci_stream.api.views import decoder_status
from bci_stream.api.startup_log import usable_models

router = APIRouter(tags=["health"])
NOT_READY = {503: {"model": ReadyAnswer, "description": "Not ready: ``reasons`` says why."}}
#: ``hidden`` of a ``/ready`` answer without the token, when one is set
HIDDEN = ("decoder ids, model problems and paths are given with the token only (Authorization: Bearer, or ?token=), as "
          "/status and /decoders give them; 'counts' says how many each list holds")
#: the lists of a ``/ready`` answer, each counted in its ``counts`` (given without the token too: what to alert on)
LISTS = ("model_problems", "decoders_in_error", "decoders_unresponsive", "decoders_not_started")


# HEAD: what some load balancers and probes send; an operation of its own (one id per operation: a client
# generator refuses a schema where GET and HEAD share one, as a multi-method route gives them)
@router.get("/health")
@router.head("/health", operation_id="health_head")
async def health() -> dict[str, str]:
    """The service is up. On the event loop, not in the thread pool that requests waiting for a worker's answer may
    fill (a frozen worker and 45 resets left /health unanswered for 9-52 s: audit s68api F1)."""
    return {"status": "ok", "version": __version__}


@router.get("/ready", response_model=ReadyAnswer, responses=NOT_READY)
@router.head("/ready", operation_id="ready_head", response_model=ReadyAnswer, responses=NOT_READY)
def ready(request: Request, supervisor: SupervisorDep, registry: RegistryDep, settings: SettingsDep) -> JSONResponse:
    """Ready to take work: the supervisor runs and the registry holds at least one valid model (its card read, its
    ONNX files there and as the card describes them: sha256; a step graph, in a voltage unit; a broken one, or one no
    decoder could run, is listed in ``model_problems``).

    503 with the reasons otherwise. Decoders in ``error``, and running ones whose worker has sent no status for
    max(5 s, 10 status intervals) (hung: its worker is killed and restarted after the setting hung_kill_s, 60 s by
    default), and the config file's decoders refused at start (``decoders_not_started``) are listed but do not make
    the service unready (it still works).

    No token is needed, so that probes need none; but when a token is set, an answer to a request without it keeps
    the decoder ids, the model problems and ``models_dir``'s path to itself (those lists are null, ``hidden`` says
    why; ``counts`` still says how many each holds, to alert on): they name streams, models and server paths (audit
    s46 security S1).
    """
    detailed = token_ok(settings, request.headers.get("authorization"), request.query_params.get(TOKEN_QUERY))
    reasons = []
    usable, problems, entries = usable_models(registry)  # what the start-up log counts (startup_log)
    if not usable:
        see = "see model_problems" if detailed else "model_problems, given with the token, says why"
        none = f" ({len(entries)} card(s), none whose files match it and a decoder can run: {see})"
        where = f" {str(registry.root)!r}" if detailed else ""
        reasons.append(f"no valid model in models_dir{where}" + (none if entries else ""))
    if not supervisor.alive:
        reasons.append("the decoder supervisor is not running")
    handles = supervisor.list()
    failing = [h.id for h in handles if h.status.state == "error"]
    silent_after = max(5.0, 10 * supervisor.status_interval)  # a running worker reports every status_interval
    hung = [h.id for h in handles if h.status.state == "running" and (h.status_age() or 0.0) > silent_after]
    body = {"ready": not reasons, "reasons": reasons, "models": len(usable), "model_problems": problems,
            "decoders": len(handles), "decoders_in_error": failing, "decoders_unresponsive": hung,
            "decoders_not_started": not_started(request.app.state), "hidden": None}
    body["counts"] = {k: len(body[k]) for k in LISTS}
    if not detailed:
        body.update({k: None for k in LISTS}, hidden=HIDDEN)
    return JSONResponse(status_code=200 if not reasons else 503, content=body)


@router.get("/status", response_model=ServiceStatus, dependencies=[Authorised], responses=errors(401))
def service_status(request: Request, supervisor: SupervisorDep, recordings: RecordingsDep) -> ServiceStatus:
    """Every decoder: state, stream connected, samples in/out, model name and sha, latency percentiles; and every
    recording with no model (``POST /recordings``) as ``GET /recordings`` gives it."""
    decoders = [decoder_status(supervisor.snapshot(h)) for h in supervisor.list()]
    recorded = [RecordingStatus(**r.view()) for r in recordings.list()]
    return ServiceStatus(
        version=__version__,
        uptime_s=time.monotonic() - request.app.state.started,
        n_decoders=len(decoders),
        decoders=decoders,
        n_recordings=len(recorded),
        recordings=recorded,
    )
