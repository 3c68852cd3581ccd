"""The TOML run configuration: everything a training run needs, in one file saved with its results.

Relative paths (``data.root``, ``output.dir``, ``export.dir``) are relative to the config file's own
folder, so a run does not depend on the working directory. Unknown keys are errors (a typo never
silently falls back to a default). See ``configs/eegmmidb-s001.toml`` for a complete example.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bci_stream.core.errors import BciStreamError


class ConfigError(BciStreamError, ValueError):
    """A run configuration is missing, unreadable, or has a bad value (the message names the key)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Section):
    """Which recordings, how they are labelled and split. Splits are by whole recording (file).

    ``validation_tail_s`` instead holds out the last seconds of the *training* recordings named in
    ``tail_files`` (default: all of them) as validation: a contiguous block in time, cut at a cue onset,
    never interleaved samples.
    """

    root: str = "."
    train: list[str] = Field(min_length=1)
    validation: list[str] = []
    test: list[str] = []
    validation_tail_s: float = Field(default=0.0, ge=0)
    tail_files: list[str] = []
    label_map: dict[str, str | None] = Field(min_length=1)
    trial_classes: list[str] = []
    channels: list[str] | None = None
    crop_s: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        seen: dict[str, str] = {}
        for split in ("train", "validation", "test"):
            for f in getattr(self, split):
                if f in seen:
                    raise ValueError(
                        f"data.{split}: file {f!r} is already in data.{seen[f]} (splits must not share a file)")
                seen[f] = split
        if not self.validation and self.validation_tail_s == 0:
            raise ValueError(
                "data: give validation files or validation_tail_s > 0 (early stopping needs validation data)")
        stray = [f for f in self.tail_files if f not in self.train]
        if stray:
            raise ValueError(f"data.tail_files {stray} are not in data.train")
        names = [v for v in self.label_map.values() if v]
        unknown = [c for c in self.trial_classes if c not in names]
        if unknown:
            raise ValueError(f"data.trial_classes {unknown} are not class names of data.label_map {sorted(set(names))}")
        if self.crop_s is not None and not 0 <= self.crop_s[0] < self.crop_s[1]:
            raise ValueError(f"data.crop_s must be (start_s, stop_s) with 0 <= start_s < stop_s, got {self.crop_s}")
        return self


class PreprocessConfig(_Section):
    """The online :class:`~bci_stream.dsp.preprocess.Preprocessor`'s settings (statistics are fitted)."""

    bandpass: tuple[float, float] | None = (8.0, 30.0)
    filter_order: int = Field(default=4, ge=1, le=10)
    notch: float | None = Field(default=None, gt=0)
    car: bool = True
    standardise: bool = True
    warmup_s: float = Field(default=2.0, ge=0)


class ModelConfig(_Section):
    preset: Literal["stacked_lstm"] | None = None
    cell: Literal["gru", "lstm"] = "gru"
    hidden_size: int = Field(default=64, ge=1)
    n_layers: int = Field(default=1, ge=1)
    hidden_sizes: list[int] | None = None
    dropout: float = Field(default=0.0, ge=0, lt=1)
    input_dropout: float = Field(default=0.0, ge=0, lt=1)
    attention_window: int = Field(default=0, ge=0)
    power_filters: int = Field(default=0, ge=0)
    spatial_init: Literal["random", "csp"] = "random"


class TrainingConfig(_Section):
    """Truncated BPTT over windows of contiguous streams, AdamW, clipping, early stopping."""

    epochs: int = Field(default=60, ge=1)
    window_s: float = Field(default=2.0, gt=0)
    segment_s: float = Field(default=30.0, gt=0)
    lr: float = Field(default=3e-3, gt=0)
    weight_decay: float = Field(default=1e-2, ge=0)
    grad_clip: float = Field(default=1.0, gt=0)
    patience: int = Field(default=10, ge=1)
    monitor: Literal["loss", "accuracy"] = "loss"
    min_epochs: int = Field(default=5, ge=1)
    lookahead_positions: int = Field(default=24, ge=1)
    bidirectional_future_s: float = Field(default=4.0, gt=0)
    threads: int | None = Field(default=None, ge=1)


class DistillationConfig(_Section):
    enabled: bool = True
    alpha: float = Field(default=0.5, ge=0, le=1)
    temperature: float = Field(default=2.0, gt=0)


class EvaluationConfig(_Section):
    trial_times_s: list[float] = [0.5, 1.0, 2.0, 3.0]
    curve_step_s: float = Field(default=0.0625, gt=0)
    curve_max_s: float = Field(default=4.0, gt=0)
    bidirectional: bool = True
    lookaheads: list[int] = [0, 8, 16, 32, 80]
    csp_lda: bool = True
    csp_band: tuple[float, float] = (8.0, 30.0)
    csp_window_s: tuple[float, float] = (0.5, 2.5)
    csp_components: int = Field(default=4, ge=1)
    distillation: DistillationConfig = DistillationConfig()

    @field_validator("lookaheads")
    @classmethod
    def _non_negative(cls, v: list[int]) -> list[int]:
        if any(k < 0 for k in v):
            raise ValueError(f"lookaheads must be >= 0 samples, got {v}")
        return v


class OutputConfig(_Section):
    dir: str = "runs/run"


class ExportConfig(_Section):
    enabled: bool = True
    dir: str = ""
    name: str = ""
    version: str = "1.0.0"
    model: Literal["causal", "student"] = "causal"
    data_description: str = ""
    licence: dict[str, Any] = {}


class RunConfig(_Section):
    """A whole run. ``base_dir`` (not from TOML) is where relative paths start."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 0
    data: DataConfig
    preprocessing: PreprocessConfig = PreprocessConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    output: OutputConfig = OutputConfig()
    export: ExportConfig = ExportConfig()
    base_dir: str = "."

    def path(self, p: str) -> Path:
        """``p`` resolved against the config file's folder (absolute paths are kept)."""
        q = Path(p).expanduser()
        return q if q.is_absolute() else (Path(self.base_dir) / q).resolve()

    def data_files(self, split: str) -> list[Path]:
        return [self.path(str(Path(self.data.root) / f)) for f in getattr(self.data, split)]

    @property
    def out_dir(self) -> Path:
        return self.path(self.output.dir)


def parse_config(raw: dict[str, Any], base_dir: Path | str = ".", source: str = "config") -> RunConfig:
    """Validate a config mapping; errors name the key path (``training.lr``), the rule and the value."""
    if "base_dir" in raw:
        raise ConfigError(f"{source}: 'base_dir' is not a config key (paths are relative to the config file)")
    try:
        return RunConfig.model_validate({**raw, "base_dir": str(Path(base_dir).resolve())})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "<root>"
            bad = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
            problems.append(f"{loc}: {err['msg']}{bad}")
        raise ConfigError(f"{source} is invalid: " + "; ".join(problems)) from None


def load_config(path: Path | str) -> RunConfig:
    """Read and validate a TOML run config."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not readable: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return parse_config(raw, path.parent, source=f"config file {path}")
