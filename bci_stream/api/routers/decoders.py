"""Start, inspect, reset and stop decoders."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from bci_stream.api.deps import Authorised, RegistryDep, SupervisorDep
from bci_stream.api.schemas import Created, DecoderStatus
from bci_stream.api.views import decoder_status
from bci_stream.errors import ModelError
from bci_stream.runtime.spec import DecoderSpec

router = APIRouter(prefix="/decoders", tags=["decoders"])


def _not_found(decoder_id: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"decoder {decoder_id!r} not found")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Created, dependencies=[Authorised])
def create_decoder(spec: DecoderSpec, supervisor: SupervisorDep, registry: RegistryDep, response: Response) -> Created:
    """Start decoding a stream with a model. The model is checked now; the stream is awaited by the worker."""
    try:
        registry.get(spec.model)
    except ModelError as exc:
        raise HTTPException(
            status_code=422,
            detail=[{"loc": ["body", "model"], "msg": str(exc), "type": "value_error.model"}],
        ) from None
    handle = supervisor.start(spec)
    url = f"/decoders/{handle.id}"
    response.headers["Location"] = url
    return Created(id=handle.id, state=handle.status["state"], url=url)


@router.get("", response_model=list[DecoderStatus])
def list_decoders(supervisor: SupervisorDep) -> list[DecoderStatus]:
    return [decoder_status(h) for h in supervisor.list()]


@router.get("/{decoder_id}", response_model=DecoderStatus)
def get_decoder(decoder_id: str, supervisor: SupervisorDep) -> DecoderStatus:
    """State, stream, model, counters, per-stage latency percentiles (ms), last output and error."""
    handle = supervisor.get(decoder_id)
    if handle is None:
        raise _not_found(decoder_id)
    return decoder_status(handle)


@router.post("/{decoder_id}/reset", response_model=DecoderStatus, dependencies=[Authorised])
def reset_decoder(decoder_id: str, supervisor: SupervisorDep) -> DecoderStatus:
    """Reset the recurrent state to zero (counted in ``counters.resets``)."""
    handle = supervisor.get(decoder_id)
    if handle is None:
        raise _not_found(decoder_id)
    if not supervisor.send(decoder_id, "reset"):
        raise HTTPException(status_code=409, detail=f"decoder {decoder_id!r} has no running worker to reset")
    return decoder_status(handle)


@router.delete("/{decoder_id}", response_model=DecoderStatus, dependencies=[Authorised])
def delete_decoder(decoder_id: str, supervisor: SupervisorDep) -> DecoderStatus:
    """Stop the worker process (it is joined, nothing is left running) and return its final status."""
    handle = supervisor.stop(decoder_id)
    if handle is None:
        raise _not_found(decoder_id)
    return decoder_status(handle)
