"""The model card: a self-description stored beside every ONNX model as ``model.json``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bci_stream.signal.preprocess import PreprocessingConfig

CARD_FILE = "model.json"
ONNX_FILE = "model.onnx"


class Architecture(BaseModel):
    """Recurrent architecture of a causal decoder."""

    model_config = ConfigDict(extra="allow")

    cell: Literal["gru", "lstm"]
    n_layers: int = Field(ge=1)
    hidden_size: int = Field(ge=1)


class OutputSpec(BaseModel):
    """What the decoder emits per input sample.

    ``kind`` is the observation model of the readout: ``categorical`` (softmax class
    probabilities), ``gaussian`` (identity link, continuous values), ``poisson`` (exp link, rates).
    """

    kind: Literal["categorical", "gaussian", "poisson"]
    labels: list[str] = Field(min_length=1)
    unit: str = ""


class Parity(BaseModel):
    """Export check: torch over the full sequence vs onnxruntime one step at a time."""

    n_samples: int
    max_abs_diff: float
    tolerance: float


class ModelCard(BaseModel):
    """Everything the service needs to know to run a model safely, and where it came from."""

    model_config = ConfigDict(extra="allow")

    format_version: int = 1
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    version: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.+-]+$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created: str
    architecture: Architecture
    n_chans: int = Field(ge=1)
    ch_names: list[str]
    sfreq: float = Field(gt=0)
    unit: str = "microvolts"
    preprocessing: PreprocessingConfig
    output: OutputSpec
    inputs: list[str] = ["x", "h0"]
    outputs: list[str] = ["y", "hn"]
    training: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    parity: Parity | None = None

    @model_validator(mode="after")
    def _check(self) -> ModelCard:
        if len(self.ch_names) != self.n_chans:
            raise ValueError(f"ch_names must have n_chans={self.n_chans} entries, got {len(self.ch_names)}")
        if len(set(self.ch_names)) != len(self.ch_names):
            raise ValueError("ch_names must be unique")
        state = ["h0", "c0"] if self.architecture.cell == "lstm" else ["h0"]
        if self.inputs != ["x", *state]:
            raise ValueError(f"inputs must be {['x', *state]} for a {self.architecture.cell} model, got {self.inputs}")
        return self

    @property
    def n_outputs(self) -> int:
        return len(self.output.labels)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
