"""What the causal preprocessing does: part of every model card, so training and serving agree.

:class:`bci_stream.dsp.preprocess.Preprocessor` computes it offline; the step graph written at export
computes the same inside the model.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PreprocessingConfig(BaseModel):
    """What the preprocessor does, stored in the model card so training and serving agree.

    Attributes
    ----------
    bandpass
        ``(low, high)`` cut-offs in Hz of a causal Butterworth band-pass, or None for no band-pass.
    filter_order
        Butterworth order of the band-pass (the SOS cascade has ``filter_order`` sections).
    notch
        Line frequency in Hz to notch out (IIR notch, quality ``notch_q``), or None.
    car
        Common average reference across the model's channels.
    mean, std
        Per-channel standardisation statistics fitted on the *training* data (after filtering and
        CAR), or None for no standardisation.
    """

    model_config = ConfigDict(extra="forbid")

    bandpass: tuple[float, float] | None = None
    filter_order: int = Field(default=4, ge=1, le=10)
    notch: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    notch_q: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    car: bool = False
    mean: list[float] | None = None
    std: list[float] | None = None

    @model_validator(mode="after")
    def _check(self) -> PreprocessingConfig:
        if self.bandpass is not None:
            low, high = self.bandpass
            if not 0 < low < high:
                raise ValueError(f"bandpass must satisfy 0 < low < high, got {self.bandpass}")
        if (self.mean is None) != (self.std is None):
            raise ValueError("mean and std must be given together (standardisation), got only one")
        if self.std is not None and any(not s > 0 for s in self.std):
            raise ValueError("std must be > 0 for every channel, got a value <= 0 or NaN")
        # (audit s69dsp F2: inf passed, NaN/inf in mean too, then written as null in the graph's metadata and said
        # as "the card was edited after export")
        for name, values in (("mean", self.mean), ("std", self.std)):
            if values is not None and (bad := [i for i, v in enumerate(values) if not math.isfinite(v)]):
                raise ValueError(f"{name} must be a finite number for every channel, got {values[bad[0]]} for "
                                 f"channel(s) {bad[:10]}")
        return self
