"""What a decoder is asked to do: the request body of ``POST /decoders`` and the worker's input."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StreamSelector(BaseModel):
    """Which LSL stream to decode; every field given must match."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=256)
    type: str | None = Field(default=None, min_length=1, max_length=256)
    source_id: str | None = Field(default=None, min_length=1, max_length=256)
    hostname: str | None = Field(default=None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _at_least_one(self) -> StreamSelector:
        if not any((self.name, self.type, self.source_id, self.hostname)):
            raise ValueError("give at least one of name, type, source_id, hostname")
        return self


class DecoderOptions(BaseModel):
    """Per-decoder options; every one has a safe default."""

    model_config = ConfigDict(extra="forbid")

    resolve_timeout: float | None = Field(
        default=None, gt=0, description="Seconds to wait for the stream to appear; None waits until stopped."
    )
    nan_policy: Literal["hold", "zero"] = Field(
        default="hold", description="Replace NaN/inf by the channel's last finite value, or by 0 (counted)."
    )
    latency_budget_ms: float | None = Field(
        default=None, gt=0, description="In-service deadline per chunk; default one sample period (1/sfreq)."
    )
    max_buffer_s: float = Field(default=30.0, gt=0, le=600, description="LSL inlet buffer in seconds.")
    time_correction: Literal["auto", "lsl", "none"] = Field(
        default="auto", description="How source timestamps are mapped to this host's clock."
    )


class DecoderSpec(BaseModel):
    """A decoder: a stream selector, a model reference (``name`` or ``name@version``), options."""

    model_config = ConfigDict(extra="forbid")

    stream: StreamSelector
    model: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_.-]+(@[A-Za-z0-9_.+-]+)?$")
    options: DecoderOptions = DecoderOptions()
