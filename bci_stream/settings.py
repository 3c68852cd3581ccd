"""Service settings, from the environment (prefix ``BCI_STREAM_``), a ``.env`` file, or arguments."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_models_dir() -> Path:
    """``models/`` of the source tree when bci-stream runs from a checkout, else ``./models``."""
    checkout = Path(__file__).resolve().parent.parent / "models"
    return checkout if checkout.is_dir() else Path.cwd() / "models"


class Settings(BaseSettings):
    """Every setting of the service. Environment variables override defaults: ``BCI_STREAM_PORT=9000``."""

    model_config = SettingsConfigDict(env_prefix="BCI_STREAM_", env_file=".env", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Bind address of the HTTP API (loopback by default).")
    port: int = Field(default=8000, ge=0, le=65535, description="HTTP port; 0 picks a free port.")
    models_dir: Path = Field(default_factory=default_models_dir, description="Folder of the model registry.")
    token: str | None = Field(
        default=None, min_length=8, description="Bearer token required by mutating endpoints when set."
    )
    status_interval: float = Field(default=0.25, gt=0, le=5, description="Seconds between worker status snapshots.")
    max_restarts: int = Field(default=3, ge=0, le=100, description="Restarts of a crashed worker before giving up.")
    restart_backoff: float = Field(default=0.5, gt=0, le=60, description="First restart delay in seconds (doubles).")
    max_request_bytes: int = Field(default=1_000_000, ge=1024, description="Largest accepted request body.")
    log_level: str = Field(default="info", description="Log level of the service.")
