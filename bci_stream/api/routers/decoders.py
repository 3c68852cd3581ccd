"""Start, inspect, reset and stop decoders."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response, status

from bci_stream.api.deps import Authorised, AuthorisedBody, RecordingsDep, RegistryDep, SupervisorDep
from bci_stream.api.error_docs import errors
from bci_stream.api.record_claims import claim_refusal
from bci_stream.api.schemas import Created, DecoderStatus, StateChange
from bci_stream.api.views import decoder_status
from bci_stream.core.errors import ModelError
from bci_stream.core.spec import DecoderSpec, gap_policy_refusal
from bci_stream.core.card import ModelCard
from bci_stream.core.load_errors import load_error
from bci_stream.engine.step_model import StepModel
from bci_stream.core.messages import Reset
from bci_stream.service.record_paths import record_path_refusal
from bci_stream.service.scoring import ScoringError, history_refusal, scoring_config
from bci_stream.service.supervisor import DecoderHandle

router = APIRouter(prefix="/decoders", tags=["decoders"])


@functools.lru_cache(maxsize=64)
def _check_graph(onnx_path: str, card_json: str) -> None:
    """Load the ONNX graph once and check its inputs and outputs against the card (ModelError if not);
    a model that passed is remembered by path and card (whose sha256 pins the file)."""
    StepModel(Path(onnx_path), ModelCard.model_validate_json(card_json))


def check_model(registry: RegistryDep, ref: str) -> ModelCard:
    """The card of model ``ref``, verified against its file (sha256, and a graph onnxruntime loads whose
    inputs and outputs are the card's), or 422 naming ``body.model``; ModelUnavailableError (503, Retry-After) when
    it could not be read or loaded now for a reason a retry can cure (:mod:`~bci_stream.core.load_errors`)."""
    try:
        entry = registry.get(ref)
        _check_graph(str(entry.onnx_path), entry.card.model_dump_json())
        return entry.card
    except (ModelError, OSError) as exc:  # an OSError reading the registry or the file: transient, or the model's
        error = load_error(exc, f"model {ref!r}")
        if not isinstance(error, ModelError):
            raise error from None
        raise HTTPException(
            status_code=422,
            detail=[{"loc": ["body", "model"], "msg": str(error), "type": "value_error.model"}],
        ) from None


def _not_found(decoder_id: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"decoder {decoder_id!r} not found")


def get_handle(decoder_id: str, supervisor: SupervisorDep) -> DecoderHandle:
    """The decoder named in the path, or 404."""
    handle = supervisor.get(decoder_id)
    if handle is None:
        raise _not_found(decoder_id)
    return handle


HandleDep = Annotated[DecoderHandle, Depends(get_handle)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Created, dependencies=AuthorisedBody,
             responses=errors(401, 409, 413, 429, 503))
def create_decoder(spec: DecoderSpec, supervisor: SupervisorDep, registry: RegistryDep, recordings: RecordingsDep,
                   response: Response) -> Created:
    """Start decoding a stream with a model. The model is checked now; the stream is awaited by the worker."""
    card = check_model(registry, spec.model)
    if (why := gap_policy_refusal(spec.options, card)) is not None:
        raise HTTPException(status_code=422, detail=[{"loc": ["body", "options", "gap_policy"], "msg": why,
                                                      "type": "value_error"}])
    if spec.options.markers.enabled:
        try:
            scoring_config(card, spec.options.markers)
        except ScoringError as exc:
            raise HTTPException(status_code=422, detail=[{"loc": ["body", "options", "markers", "marker_map"],
                                                          "msg": str(exc), "type": "value_error"}]) from None
        if (why := history_refusal(spec.options.markers, card.sfreq)) is not None:
            raise HTTPException(status_code=422, detail=[{"loc": ["body", "options", "markers", "history_s"],
                                                          "msg": why, "type": "value_error"}])
    if (why := record_path_refusal(supervisor.recordings_dir, spec.options.record_path)
            or claim_refusal("record_path", spec.options.record_path, supervisor, recordings)) is not None:
        raise HTTPException(status_code=422, detail=[{"loc": ["body", "options", "record_path"], "msg": why,
                                                      "type": "value_error"}])
    handle = supervisor.start(spec, n_outputs=card.n_outputs, sfreq=card.sfreq)
    url = f"/decoders/{handle.id}"
    response.headers["Location"] = url
    return Created(id=handle.id, state=handle.status.state, url=url)


@router.get("", response_model=list[DecoderStatus], dependencies=[Authorised], responses=errors(401))
def list_decoders(supervisor: SupervisorDep) -> list[DecoderStatus]:
    return [decoder_status(supervisor.snapshot(h)) for h in supervisor.list()]


@router.get("/{decoder_id}", response_model=DecoderStatus, dependencies=[Authorised], responses=errors(401, 404))
def get_decoder(handle: HandleDep, supervisor: SupervisorDep) -> DecoderStatus:
    """State, stream, model, counters, per-stage latency percentiles (ms), last output and error."""
    return decoder_status(supervisor.snapshot(handle))


@router.post("/{decoder_id}/reset", response_model=DecoderStatus, dependencies=[Authorised],
             responses=errors(401, 404, 409, 503, 504))
def reset_decoder(handle: HandleDep, supervisor: SupervisorDep) -> DecoderStatus:
    """Reset the recurrent and filter state, between two chunks (counted in ``counters.resets``;
    ``counters.state_epoch`` and the provenance stream's ``state_epoch`` increase). ``state_change`` says where the
    new state starts: its ``state_epoch`` and ``first_seq``, the first input sample decoded from the reset state. A
    reset at most ``options.markers.reset_grace_s`` (status ``scoring.reset_grace_s``) after a cue's first output
    starts that cue's trial (live scoring)."""
    result = supervisor.request(handle.id, Reset())
    # the reset's own figures, newer than the last snapshot
    status = decoder_status(supervisor.snapshot(handle), result.counters)
    status.state_change = StateChange(kind="reset", state_epoch=result.state_epoch, first_seq=result.seq)
    return status


@router.delete("/{decoder_id}", response_model=DecoderStatus, dependencies=[Authorised],
               responses=errors(401, 404, 409))
def delete_decoder(decoder_id: str, supervisor: SupervisorDep) -> DecoderStatus:
    """Stop the worker process (it is joined, nothing is left running) and return its final status. While the stop
    is under way the decoder's state is ``stopping``: a second DELETE, and any command (reset, swap, state), is 409
    (not retryable: once stopped the decoder is gone, 404)."""
    handle = supervisor.stop(decoder_id)
    if handle is None:
        raise _not_found(decoder_id)
    return decoder_status(handle)
