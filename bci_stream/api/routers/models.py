"""The model registry, read-only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from bci_stream.api.deps import Authorised, RegistryDep
from bci_stream.api.error_docs import errors
from bci_stream.core.errors import ModelNotFoundError

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", dependencies=[Authorised], responses=errors(401))
def list_models(registry: RegistryDep) -> dict[str, Any]:
    """The model cards in the registry, and the folders whose card could not be read."""
    entries, problems = registry.scan()
    return {"models": [e.card.model_dump() for e in entries], "problems": problems}


@router.get("/{ref}", dependencies=[Authorised], responses=errors(401, 404, 503))
def get_model(ref: str, registry: RegistryDep) -> dict[str, Any]:
    """One model card, by ``name`` (highest version) or ``name@version``."""
    try:
        return registry.resolve(ref).card.model_dump()
    except ModelNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
