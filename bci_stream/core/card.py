"""The model card: a self-description stored beside every ONNX model as ``model.json``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bci_stream.core.contract import StepSpec
from bci_stream.core.preprocessing import PreprocessingConfig

#: The card format the service runs: the ONNX file is a step graph (:mod:`bci_stream.core.contract`).
FORMAT_VERSION = 2

CARD_FILE = "model.json"
ONNX_FILE = "model.onnx"


class Architecture(BaseModel):
    """What computes the outputs: a recurrent network, or a classical decoder family.

    ``family`` is ``recurrent`` (``cell``, ``n_layers``, ``hidden_size`` required), ``csp_lda``,
    ``riemann``, ``csp_gru`` (CSP+LDA plus a residual GRU on its logit: ``cell``, ``n_layers``,
    ``hidden_size`` of the GRU), ``csp_riemann`` (CSP+LDA and tangent space + LR in one graph, outputs
    combined: ``combine``, ``front_ends``) or ``ensemble`` (several of those decoders in one graph, the mean of
    their probabilities: ``members``); family-specific fields are kept as extras.
    """

    model_config = ConfigDict(extra="allow")

    family: str = Field(default="recurrent", min_length=1)
    cell: Literal["gru", "lstm"] | None = None
    n_layers: int | None = Field(default=None, ge=1)
    hidden_size: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> Architecture:
        if self.family == "recurrent" and None in (self.cell, self.n_layers, self.hidden_size):
            raise ValueError("a recurrent architecture needs cell, n_layers and hidden_size")
        return self


class OutputSpec(BaseModel):
    """What the decoder emits per input sample.

    ``kind`` is the observation model of the readout: ``categorical`` (softmax class
    probabilities), ``gaussian`` (identity link, continuous values), ``poisson`` (exp link, rates).
    """

    kind: Literal["categorical", "gaussian", "poisson"]
    labels: list[str] = Field(min_length=1)
    unit: str = ""


class ScoringSpec(BaseModel):
    """How the service scores live trials for this model: which marker value cues which output label, and
    when after the cue a trial is decided (argmax of the output at the first sample at or after
    ``cue + decision_time_s``). Optional: older cards fall back to ``training.label_map``."""

    model_config = ConfigDict(extra="forbid")

    marker_map: dict[str, str | None] = Field(min_length=1)
    decision_time_s: float = Field(default=2.0, gt=0, le=60, allow_inf_nan=False)


class Parity(BaseModel):
    """Export check: torch over the full sequence vs onnxruntime one step at a time."""

    n_samples: int
    max_abs_diff: float
    tolerance: float


class ModelCard(BaseModel):
    """Everything the service needs to know to run a model safely, and where it came from."""

    model_config = ConfigDict(extra="allow")

    format_version: int = FORMAT_VERSION
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
    step: StepSpec | None = None
    scoring: ScoringSpec | None = None

    @model_validator(mode="after")
    def _check(self) -> ModelCard:
        if len(self.ch_names) != self.n_chans:
            raise ValueError(f"ch_names must have n_chans={self.n_chans} entries, got {len(self.ch_names)}")
        if len(set(self.ch_names)) != len(self.ch_names):
            raise ValueError("ch_names must be unique")
        if self.scoring is not None and (bad := sorted({c for c in self.scoring.marker_map.values() if c is not None}
                                                       - set(self.output.labels))):
            raise ValueError(f"scoring.marker_map must map markers to output labels {self.output.labels}, got {bad}")
        if self.format_version >= 2:
            if self.step is None:
                raise ValueError(f"step must describe the step graph for format_version {self.format_version}")
            if (self.step.n_chans, self.step.n_outputs) != (self.n_chans, self.n_outputs):
                raise ValueError(f"step must have n_chans={self.n_chans} and n_outputs={self.n_outputs}, got "
                                 f"{self.step.n_chans} and {self.step.n_outputs}")
            arch = self.architecture
            for st in self.step.states:
                if st.role == "recurrent" and arch.hidden_size is not None and st.shape[-1] > arch.hidden_size:
                    raise ValueError(f"step state {st.name!r} has {st.shape[-1]} units, more than "
                                     f"architecture.hidden_size={arch.hidden_size}")
            if self.inputs != self.step.input_names or self.outputs != self.step.output_names:
                raise ValueError(f"inputs/outputs must be the step graph's {self.step.input_names} / "
                                 f"{self.step.output_names}, got {self.inputs} / {self.outputs}")
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
