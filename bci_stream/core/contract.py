"""The step-graph contract: what every exported decoder graph takes and gives, family by family.

Every model in the registry (recurrent, CSP+LDA, Riemannian) is one ONNX graph written at export
(``bci_stream.train.export``) and described by a :class:`StepSpec` stored in its card (``card.step``) and in the
graph's ``metadata_props`` (key :data:`METADATA_KEY`, the same JSON). The service runs it with
onnxruntime alone.

Graph I/O (B = streams stacked on the batch axis, T = samples per call, 1 <= T <= ``max_block``):

* ``x [B, T, C]`` float32: raw samples in the card's channel order, in the stream's unit;
* ``scale [B, 1, C]`` float64: per-stream, per-channel factor to the card's unit (1 when they agree);
  the graph multiplies before any filter;
* one input and one output per state (:class:`StateSpec`): ``state.input`` is read, ``state.output``
  is the state after the T samples, same shape and dtype;
* ``y [B, T, K]`` float32: one output row per input sample (class probabilities or values).

The graph updates the state sample by sample inside: T samples in one call give exactly the result of
T calls of one sample. Slots of different streams never mix: row b of every output depends only on row
b of every input.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

METADATA_KEY = "bci_stream.step"
X, SCALE, Y = "x", "scale", "y"
#: The single-sample graph's input that packs the sample (row 0) with a filter state (rows 1..).
SAMPLE_AND_FILTER = "xz"

StateRole = Literal["filter", "recurrent", "estimator"]
StateInit = Literal["zeros", "first_sample", "constant"]


class StateSpec(BaseModel):
    """One state tensor of a step graph.

    Attributes
    ----------
    name
        Short name, the key in snapshots (``zf``, ``h``, ``c``, ``power``, ``cov``).
    input, output
        Graph input and output names.
    shape
        Full shape for one stream (the batch axis has size 1), e.g. ``[1, S, C]`` or ``[L, 1, H]``.
    batch_axis
        The axis along which streams are stacked.
    dtype
        ``float32`` or ``float64``.
    role
        ``filter`` (causal filter state), ``recurrent`` (hidden state of a network: the one that a
        gap policy ``decay`` scales), ``estimator`` (running power or covariance).
    init
        How a fresh stream starts: ``zeros``; ``constant`` (``init_value``, flattened); or
        ``first_sample``: ``outer(init_value, x0 * scale)`` where ``x0`` is the stream's first sample,
        the steady state of a linear filter for a constant input (scipy's ``sosfilt_zi`` times x0).
    init_value
        Flattened values for ``constant`` (prod(shape) values) or the unit response for
        ``first_sample`` (``shape[1]`` values for a state ``[1, S, C]``).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_]+$")
    input: str = Field(min_length=1)
    output: str = Field(min_length=1)
    shape: list[int] = Field(min_length=1)
    batch_axis: int = Field(ge=0)
    dtype: Literal["float32", "float64"] = "float32"
    role: StateRole
    init: StateInit = "zeros"
    init_value: list[float] | None = None

    @model_validator(mode="after")
    def _check(self) -> StateSpec:
        if self.batch_axis >= len(self.shape):
            raise ValueError(f"batch_axis must be < len(shape)={len(self.shape)}, got {self.batch_axis}")
        if self.shape[self.batch_axis] != 1:
            raise ValueError(f"shape[batch_axis] must be 1 (one stream), got {self.shape}")
        if any(d < 1 for d in self.shape):
            raise ValueError(f"shape must have positive dimensions, got {self.shape}")
        if self.init == "zeros" and self.init_value is not None:
            raise ValueError("init_value must be None when init is 'zeros'")
        if self.init == "constant":
            n = 1
            for d in self.shape:
                n *= d
            if self.init_value is None or len(self.init_value) != n:
                got = None if self.init_value is None else len(self.init_value)
                raise ValueError(f"init_value must have prod(shape)={n} values for init 'constant', got {got}")
        if self.init == "first_sample":
            if len(self.shape) != 3 or self.batch_axis != 0:
                raise ValueError(f"init 'first_sample' needs a state [1, S, C] with batch_axis 0, got {self.shape}")
            if self.init_value is None or len(self.init_value) != self.shape[1]:
                got = None if self.init_value is None else len(self.init_value)
                raise ValueError(f"init_value must have shape[1]={self.shape[1]} values for init 'first_sample', "
                                 f"got {got}")
        return self


class SingleStep(BaseModel):
    """The single-sample specialisation written beside the step graph (B = T = 1, same computation).

    Attributes
    ----------
    file, sha256
        Its file in the model folder and that file's sha256.
    split
        Recurrent state input → number of per-layer inputs ``<input>/<l>`` (outputs ``<output>/<l>``,
        shape ``[1, 1, H]``) that replace it in this graph.
    sample_and_filter
        When set, the name of the filter state that this graph takes together with the sample as one
        float64 input ``xz [1 + S, C]``: row 0 the sample times ``scale`` (written by the runtime), rows
        1.. the state; its new value ``[S, C]`` is the state's output.
    """

    model_config = ConfigDict(extra="forbid")

    file: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.onnx$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    split: dict[str, int] = {}
    sample_and_filter: str | None = None


class StepSpec(BaseModel):
    """The I/O of a step graph (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    contract: Literal[1] = 1
    family: str = Field(min_length=1)
    n_chans: int = Field(ge=1)
    n_outputs: int = Field(ge=1)
    max_block: int = Field(ge=1)
    states: list[StateSpec]
    single_step: SingleStep | None = None

    @model_validator(mode="after")
    def _check(self) -> StepSpec:
        names = [s.name for s in self.states]
        if len(set(names)) != len(names):
            raise ValueError(f"state names must be unique, got {names}")
        io = [X, SCALE, Y, *(s.input for s in self.states), *(s.output for s in self.states)]
        if len(set(io)) != len(io):
            raise ValueError(f"graph input/output names must be unique, got {io}")
        return self

    @property
    def input_names(self) -> list[str]:
        return [X, SCALE, *(s.input for s in self.states)]

    @property
    def output_names(self) -> list[str]:
        return [Y, *(s.output for s in self.states)]
