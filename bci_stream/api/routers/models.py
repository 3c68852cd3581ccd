"""The model registry, read-only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from bci_stream.api.deps import Authorised, RegistryDep
from bci_stream.api.error_docs import errors
from bci_stream.core.errors import ModelError, ModelNotFoundError
from bci_stream.core.registry import ModelEntry, entry_problem

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", dependencies=[Authorised], responses=errors(401))
def list_models(registry: RegistryDep) -> dict[str, Any]:
    """The model cards in the registry, each with ``problem``: why no decoder can load it (its files not as its card
    says, a unit that is no voltage, a card edited after export: what ``/ready`` lists in ``model_problems``), or
    null; and the folders whose card could not be read."""
    checked, problems = registry.checked()
    return {"models": [_card(e, why) for e, why in checked], "problems": problems}


#: ``GET /models/{ref}``'s 409: the version ``ref`` means is in several folders with other files.
TWINS = {409: {**errors(409)[409], "description": "The version the name means is in several folders of the registry "
               "with other files (each copy's problem in GET /models): which one is meant cannot be told."}}


@router.get("/{ref}", dependencies=[Authorised], responses={**errors(401, 404, 503), **TWINS})
def get_model(ref: str, registry: RegistryDep) -> dict[str, Any]:
    """One model card, by ``name`` (highest version) or ``name@version``, with ``problem`` as in the list."""
    try:
        entry = registry.resolve(ref)
    except ModelNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except ModelError as exc:  # twins (before: 422 with a text detail, where a 422 is a request's field: s66model F1)
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return _card(entry, entry_problem(entry))


def _card(entry: ModelEntry, problem: str | None) -> dict[str, Any]:
    return {**entry.card.model_dump(), "problem": problem}
