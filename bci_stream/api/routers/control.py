"""Change a running decoder without stopping it: hot-swap its model, read or restore its state."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from bci_stream.api.deps import Authorised, AuthorisedBody, RegistryDep, SupervisorDep
from bci_stream.api.error_docs import errors
from bci_stream.api.routers.decoders import HandleDep, check_model
from bci_stream.api.schemas import DecoderStatus, StateChange
from bci_stream.api.views import decoder_status
from bci_stream.core.card import MODEL_REF_PATTERN
from bci_stream.core.messages import GetState, SetState, SwapModel
from bci_stream.core.spec import gap_policy_refusal
from bci_stream.service.requests import CommandRejectedError
from bci_stream.service.swap_checks import swap_refusal

router = APIRouter(prefix="/decoders", tags=["decoders"])

SWAP_TIMEOUT_S = 60.0


class ModelSwap(BaseModel):
    """The model to switch to: same outputs as the running one (the output stream is kept)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=256, pattern=MODEL_REF_PATTERN)


class StateModel(BaseModel):
    """A snapshot of a decoder's state: recurrent (``h0``, ``c0``) and filter (``zi``) arrays."""

    model_config = ConfigDict(extra="forbid")

    arrays: dict[str, list[Any]] = Field(description="Arrays by name, as nested lists of numbers.")
    model: dict[str, Any] | None = Field(
        default=None,
        description="The model the snapshot belongs to; a restore needs its sha256, the running model's.",
    )
    seq: int | None = Field(default=None, ge=0, description="Input samples decoded when the snapshot was taken.")
    state_epoch: int | None = None
    first_seq: int | None = Field(default=None, description="In the answer to a restore: the first input sample "
                                  "decoded from the restored state (state_epoch is its epoch).")


@router.put("/{decoder_id}/model", response_model=DecoderStatus, dependencies=AuthorisedBody,
            responses=errors(401, 404, 409, 413, 503, 504))
def swap_model(body: ModelSwap, handle: HandleDep, supervisor: SupervisorDep, registry: RegistryDep) -> DecoderStatus:
    """Hot swap: the worker loads and warms the new model beside the running one, then switches between
    two chunks; no sample is lost. The new model starts from its zero state (the filter state is kept
    when the preprocessing is the same); ``counters.swaps`` and ``counters.state_epoch`` increase. A model the
    decoder's options cannot run (``gap_policy`` ``decay`` without a recurrent state), or that can never replace the
    running one (other outputs, another rate, channels the stream lacks, another unit) is refused: 422 naming
    ``body.model``. 409 only for what a retry can cure (the decoder is not running yet, or swapping). A model that
    could not be loaded now for a reason of the server (out of memory or file descriptors, a busy file:
    :mod:`~bci_stream.core.load_errors`) is 503 with ``Retry-After``; the running model decodes on. The worker says
    which (``Reply.retry``). The same model failing so a few times in a row on that decoder
    (:data:`~bci_stream.core.load_errors.MAX_TRANSIENT_LOAD_FAILURES`) is 422: it may never fit there."""
    card = check_model(registry, body.model)
    status = handle.status
    why = gap_policy_refusal(handle.spec.options, card) or swap_refusal(card, status.model, status.stream)
    if why is not None:  # known from the two cards: never sent to the worker
        raise _model_refused(why)
    try:
        result = supervisor.request(handle.id, SwapModel(model=body.model), timeout=SWAP_TIMEOUT_S)
    except CommandRejectedError as exc:
        if exc.retry is not None:  # the worker said a retry may succeed: busy (409) or its machine short now (503)
            raise
        raise _model_refused(str(exc)) from None
    # the swap's own figures, newer than the last snapshot
    status = decoder_status(supervisor.snapshot(handle), result.counters)
    status.model = result.model
    status.stream = result.stream or status.stream  # channel_map and units as the new model reads them
    if result.scoring is not None:  # under the new model's marker map (before: the last snapshot's, the last model's)
        status.scoring = handle.with_before_restart(result.scoring) if handle.scores_before_restart else result.scoring
        status.markers = result.markers or status.markers
    status.state_change = StateChange(kind="swap", state_epoch=result.state_epoch, first_seq=result.seq)
    return status


def _model_refused(why: str) -> HTTPException:
    return HTTPException(status_code=422, detail=[{"loc": ["body", "model"], "msg": why, "type": "value_error"}])


@router.get("/{decoder_id}/state", response_model=StateModel, dependencies=[Authorised],
            responses=errors(401, 404, 409, 503, 504))
def get_state(handle: HandleDep, supervisor: SupervisorDep) -> StateModel:
    """A snapshot of the decoder's state, taken between two chunks."""
    snap = supervisor.request(handle.id, GetState())
    return StateModel(arrays=snap.arrays, model=snap.model, seq=snap.seq, state_epoch=snap.state_epoch)


@router.put("/{decoder_id}/state", response_model=StateModel, dependencies=AuthorisedBody,
            responses=errors(401, 404, 409, 413, 503, 504))
def put_state(body: StateModel, handle: HandleDep, supervisor: SupervisorDep) -> StateModel:
    """Restore a snapshot from ``GET /decoders/{id}/state`` (same model; names, shapes and ``model.sha256``, which
    must be given, are checked: 422 naming what is wrong otherwise, as for any malformed body).
    ``counters.state_epoch`` increases. 409 only for what a retry can cure (the decoder is not running yet)."""
    sha = (body.model or {}).get("sha256")
    if not isinstance(sha, str):  # a snapshot says which model it belongs to, or another model's could be restored
        got = ("no model" if body.model is None else "a model with no sha256" if "sha256" not in body.model
               else f"model.sha256 {sha!r}")
        raise HTTPException(status_code=422, detail=[{
            "loc": ["body", "model", "sha256"], "type": "value_error",
            "msg": f"model.sha256 must be given, the sha256 of the model the snapshot was taken from (as GET "
                   f"/decoders/{{id}}/state returns it), got {got}"}])
    try:
        result = supervisor.request(handle.id, SetState(arrays=body.arrays, sha256=sha))
    except CommandRejectedError as exc:
        if exc.retry is not None:  # not running yet, whatever the status said: a retry can cure it (409)
            raise
        loc = ["body", "model", "sha256"] if "sha256" in str(exc) else ["body", "arrays"]
        raise HTTPException(status_code=422, detail=[{"loc": loc, "msg": str(exc), "type": "value_error"}]) from None
    # the decoder's model, as GET gives it (the snapshot's card may be another version of the same file)
    return StateModel(arrays=body.arrays, model=handle.status.model or body.model, seq=body.seq,
                      state_epoch=result.state_epoch, first_seq=result.seq)
