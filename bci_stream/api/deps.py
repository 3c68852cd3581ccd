"""Dependencies shared by the routers."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bci_stream.inference.registry import ModelRegistry
from bci_stream.runtime.supervisor import Supervisor
from bci_stream.settings import Settings

_bearer = HTTPBearer(auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_supervisor(request: Request) -> Supervisor:
    return request.app.state.supervisor


def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


SettingsDep = Annotated[Settings, Depends(get_settings)]
SupervisorDep = Annotated[Supervisor, Depends(get_supervisor)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]


def require_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Mutating endpoints: when ``BCI_STREAM_TOKEN`` is set, require ``Authorization: Bearer <token>``."""
    if settings.token is None:
        return
    if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), settings.token.encode()):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token (set the Authorization: Bearer header)",
            headers={"WWW-Authenticate": "Bearer"},
        )


Authorised = Depends(require_token)
