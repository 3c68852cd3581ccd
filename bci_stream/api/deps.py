"""Dependencies shared by the routers."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bci_stream.api.guards import no_duplicate_keys
from bci_stream.core.registry import ModelRegistry
from bci_stream.service.recordings import Recordings
from bci_stream.service.supervisor import Supervisor
from bci_stream.core.settings import Settings

_bearer = HTTPBearer(auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_supervisor(request: Request) -> Supervisor:
    return request.app.state.supervisor


def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


def get_recordings(request: Request) -> Recordings:
    return request.app.state.recordings


SettingsDep = Annotated[Settings, Depends(get_settings)]
SupervisorDep = Annotated[Supervisor, Depends(get_supervisor)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
RecordingsDep = Annotated[Recordings, Depends(get_recordings)]


TOKEN_QUERY = "token"
TOKEN_HELP = "missing or wrong bearer token (set the Authorization: Bearer header, or ?token= for browsers)"


def token_ok(settings: Settings, header: str | None, query: str | None) -> bool:
    """True when no token is configured, or the bearer header or the ``token`` query parameter holds it."""
    if settings.token is None:
        return True
    expected = settings.token.encode()
    scheme, _, value = (header or "").partition(" ")
    value = value.strip()  # as HTTPBearer (require_token) reads it: ``Bearer  <token>`` is the same token
    given = value if scheme.lower() == "bearer" and value else query
    return given is not None and secrets.compare_digest(given.encode(), expected)


def require_token(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Every route but ``/health``, ``/ready`` and ``/metrics``: when ``BCI_STREAM_TOKEN`` is set, require
    ``Authorization: Bearer <token>`` (or ``?token=<token>``, for browsers); else 401."""
    header = f"Bearer {credentials.credentials}" if credentials is not None else None
    if not token_ok(settings, header, request.query_params.get(TOKEN_QUERY)):
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail=TOKEN_HELP,
                            headers={"WWW-Authenticate": "Bearer"})


Authorised = Depends(require_token)
#: A route with a JSON body: the token first (401 before this check; a body that is no JSON at all is FastAPI's 422,
#: before any dependency), then no key named twice (:func:`~bci_stream.api.guards.no_duplicate_keys`)
AuthorisedBody = [Authorised, Depends(no_duplicate_keys)]
