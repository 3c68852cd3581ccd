"""The TOML run configuration: everything a training run needs, in one file saved with its results.

Relative paths (``data.root``, ``output.dir``, ``export.dir``) are relative to the config file's own
folder, so a run does not depend on the working directory; ``data.root`` may start with ``${BCI_STREAM_DATA}``
(the real-EEG folder, :mod:`bci_stream.io.data_root`). Unknown keys are errors (a typo never
silently falls back to a default), and so are ``[model]`` keys the net would not follow
(:mod:`bci_stream.train.config_model`). See ``configs/eegmmidb-s001.toml`` for a complete example.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bci_stream.core.errors import BciStreamError, rule_text
from bci_stream.io.data_root import expand_data_root
from bci_stream.train.config_model import ModelConfig


class ConfigError(BciStreamError, ValueError):
    """A run configuration is missing, unreadable, or has a bad value (the message names the key)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: ``load_recording`` arguments that have their own ``[data]`` key, so ``[data.reader]`` may not set them.
_NOT_READER_OPTIONS = {"label_map": "data.label_map", "ch_names": "data.channels", "label_window": "data.label_window"}


def _band(v: tuple[float, float] | None) -> tuple[float, float] | None:
    """A ``(low_hz, high_hz)`` band with ``0 < low < high``, both finite (the Nyquist limit needs the data)."""
    if v is not None and not (math.isfinite(v[0]) and math.isfinite(v[1]) and 0 < v[0] < v[1]):
        raise ValueError("must be [low_hz, high_hz] with 0 < low_hz < high_hz (finite)")
    return v


class DataConfig(_Section):
    """Which recordings, how they are labelled and split. Splits are by whole recording (file).

    ``validation_tail_s`` instead holds out the last seconds of the *training* recordings named in
    ``tail_files`` (default: all of them) as validation: a contiguous block in time, cut at a cue onset,
    never interleaved samples. A file may be in one split only, however it is spelled (compared as files
    on disk: ``./a.edf``, an absolute path or a symlink to ``a.edf`` are ``a.edf``; once the files are read, by
    content too: a renamed copy or the recording re-saved in another format, :func:`~.data_checks.check_split_copies`).

    ``label_map`` sends an event description to a class name; the value ``""`` means "ignore this event"
    (TOML has no null), e.g. ``label_map = { T0 = "", T1 = "fists", T2 = "feet" }``. Every event it maps
    to a class must occur in some file, and at least two trial classes are needed (``trial_classes``,
    default every class); once the files are read, the training part must hold every class and the test
    files trials of every trial class (:mod:`bci_stream.train.data_checks`).

    ``label_window = [start_s, stop_s]`` labels that span after each event onset instead of the event's
    duration (for formats whose events have no duration: EEGLAB, XDF markers). The table ``[data.reader]``
    holds reader options, passed to :func:`bci_stream.io.load_recording` for each file whose format takes
    them (a run may mix formats; an option no file's reader takes is refused): for XDF ``stream``,
    ``marker_stream``, ``until_next`` and ``zero`` (a numeric marker stream's 0 is an event; by default when
    ``label_map`` names ``"0"``); for BCI2000 ``.dat`` ``state``, ``type_state``, ``include_zero`` and ``loc_file``.

    ``bad_events`` names events that mark bad data (``calibrate``'s ``--bad-events``, e.g. BCI Competition IV 2a's
    ``1023``, "rejected trial"), matched exactly; with ``bad*`` annotations, EEGLAB ``boundary`` events and NaN/inf
    stretches (held as the service holds them), the samples they cover and the labelled segments reaching into them
    are unlabelled (:mod:`bci_stream.train.bad_data`). An event may not be both a class and bad: refused here, before
    any file is read (the only place train checks it).

    ``root`` may start with ``${BCI_STREAM_DATA}``: the real-EEG folder (env ``BCI_STREAM_DATA``, else
    ``../shared/data`` beside the checkout; :mod:`bci_stream.io.data_root`), replaced when the config is read,
    so the same config works wherever the data is (the run's ``config.json`` holds the replaced path).
    """

    root: str = "."
    train: list[str] = Field(min_length=1)
    validation: list[str] = []
    test: list[str] = []
    validation_tail_s: float = Field(default=0.0, ge=0)
    tail_files: list[str] = []
    label_map: dict[str, str | None] = Field(min_length=1)
    trial_classes: list[str] = []
    channels: list[str] | None = Field(default=None, min_length=1)  # [] is no channel: a mistake, not "all"
    crop_s: tuple[float, float] | None = None
    label_window: tuple[float, float] | None = None
    reader: dict[str, Any] = {}
    bad_events: list[str] = []

    @field_validator("root")
    @classmethod
    def _data_folder(cls, v: str) -> str:
        return expand_data_root(v)

    @field_validator("label_map")
    @classmethod
    def _empty_is_ignore(cls, v: dict[str, str | None]) -> dict[str, str | None]:
        return {k: (None if c is not None and not c.strip() else c) for k, c in v.items()}

    @field_validator("label_window")
    @classmethod
    def _window(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not (math.isfinite(v[0]) and math.isfinite(v[1]) and v[0] < v[1]):
            raise ValueError("must be [start_s, stop_s] after each event onset, finite, with start_s < stop_s")
        return v

    @field_validator("reader")
    @classmethod
    def _reader(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key, where in _NOT_READER_OPTIONS.items():
            if key in v:
                raise ValueError(f"{key!r} is not a reader option: set {where} instead")
        return v

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
        names = [v for v in self.label_map.values() if v]
        unknown = [c for c in self.trial_classes if c not in names]
        if unknown:
            raise ValueError(f"data.trial_classes {unknown} are not class names of data.label_map {sorted(set(names))}")
        classes = sorted(set(self.trial_classes or names))
        if len(classes) < 2:
            key = "data.trial_classes" if self.trial_classes else "data.label_map"
            raise ValueError(f"{key} must give at least 2 trial classes (a trial accuracy needs a choice), got "
                             f"{classes}")
        if both := sorted({str(e) for e in self.bad_events} & {str(k) for k, v in self.label_map.items() if v}):
            raise ValueError(f"data.bad_events {both} are also mapped to a class by data.label_map: an event marks a "
                             "trial of a class or bad data, not both")
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

    _bandpass = field_validator("bandpass")(_band)


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

    @model_validator(mode="after")
    def _window_in_segment(self) -> TrainingConfig:
        if self.window_s > self.segment_s:
            raise ValueError(f"training.window_s must be <= training.segment_s (a segment is trained window by "
                             f"window), got window_s = {self.window_s:g} s > segment_s = {self.segment_s:g} s")
        return self


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

    _csp_band = field_validator("csp_band")(_band)

    @field_validator("trial_times_s")
    @classmethod
    def _times(cls, v: list[float]) -> list[float]:
        """At least one time, each finite and > 0 s, none twice (the headline, report and card score at them)."""
        if not v:
            raise ValueError("must give at least one time after cue (seconds > 0), e.g. [0.5, 1.0, 2.0, 3.0]: the "
                             "trial accuracy of the report and the model card is scored at these times")
        bad = [t for t in v if not (math.isfinite(t) and t > 0)]
        if bad:
            raise ValueError(f"must be finite seconds > 0 after cue; {bad} are not")
        _no_repeats(v, "time", "it would be scored twice")
        return v

    @field_validator("csp_window_s")
    @classmethod
    def _csp_window(cls, v: tuple[float, float]) -> tuple[float, float]:
        """Seconds after the cue, 0 <= start < stop: the CSP+LDA reference's epoch and the CSP initialisation's."""
        if not (math.isfinite(v[0]) and math.isfinite(v[1]) and 0 <= v[0] < v[1]):
            raise ValueError(f"must be (start, stop) seconds after the cue with 0 <= start < stop; got {tuple(v)}")
        return v

    @field_validator("lookaheads")
    @classmethod
    def _non_negative(cls, v: list[int]) -> list[int]:
        if any(k < 0 for k in v):
            raise ValueError(f"must be >= 0 samples; {[k for k in v if k < 0]} are not")
        _no_repeats(v, "lookahead", "each trains the same lookahead_K net again, the second replacing the first")
        return v


def _no_repeats(values: list[Any], what: str, why: str) -> None:
    twice = sorted({x for x in values if values.count(x) > 1})
    if twice:
        raise ValueError(f"must not repeat a {what}: {', '.join(f'{x:g}' for x in twice)} "
                         f"{'is' if len(twice) == 1 else 'are'} given more than once ({why})")


class OutputConfig(_Section):
    dir: str = "runs/run"


class ExportConfig(_Section):
    """The exported model folder. ``name`` (default: the run's name) and ``version`` follow the model card's
    rules, checked here so a bad value is refused before training rather than after it."""

    enabled: bool = True
    dir: str = ""
    name: str = Field(default="", pattern=r"^([A-Za-z0-9][A-Za-z0-9_.-]*)?$")  # core.card.MODEL_NAME_PATTERN or empty
    version: str = Field(default="1.0.0", pattern=r"^[A-Za-z0-9_.+-]+$")
    model: Literal["causal", "student"] = "causal"
    data_description: str = ""
    licence: dict[str, Any] = {}


class RunConfig(_Section):
    """A whole run. ``base_dir`` (not from TOML) is where relative paths start."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = Field(default=0, ge=0, le=2**32 - 1)  # numpy and torch generators: a non-negative 32-bit seed
    data: DataConfig
    preprocessing: PreprocessConfig = PreprocessConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    output: OutputConfig = OutputConfig()
    export: ExportConfig = ExportConfig()
    base_dir: str = "."

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        ev = self.evaluation
        if self.export.model == "student" and not (ev.distillation.enabled and ev.bidirectional):
            raise ValueError(
                "export.model = 'student' needs a student: set evaluation.distillation.enabled = true and "
                f"evaluation.bidirectional = true (its teacher), got distillation.enabled = "
                f"{str(ev.distillation.enabled).lower()}, bidirectional = {str(ev.bidirectional).lower()}")
        self._check_files()
        return self

    def _check_files(self) -> None:
        """No file in two splits (or twice in one), and ``tail_files`` in ``train``, compared as files on disk."""
        seen: dict[Any, tuple[str, str]] = {}
        for split in ("train", "validation", "test"):
            for f, p in zip(getattr(self.data, split), self.data_files(split)):
                key = file_identity(p)
                if key in seen:
                    other, name = seen[key]
                    raise ValueError(f"data.{split}: file {f!r} is the same file as {name!r} in data.{other} "
                                     f"(splits must not share a file)")
                seen[key] = (split, f)
        train = {file_identity(p) for p in self.data_files("train")}
        stray = [f for f in self.data.tail_files if file_identity(self._data_path(f)) not in train]
        if stray:
            raise ValueError(f"data.tail_files {stray} are not in data.train")

    def _data_path(self, f: str) -> Path:
        return self.path(str(Path(self.data.root) / f))

    def path(self, p: str) -> Path:
        """``p`` resolved against the config file's folder (absolute paths are kept)."""
        q = Path(p).expanduser()
        return q if q.is_absolute() else (Path(self.base_dir) / q).resolve()

    def data_files(self, split: str) -> list[Path]:
        return [self._data_path(f) for f in getattr(self.data, split)]

    @property
    def out_dir(self) -> Path:
        return self.path(self.output.dir)


def file_identity(path: Path) -> Any:
    """The file on disk (device and inode, so symlinks and other spellings match), or the resolved path when it
    does not exist (loading reports a missing file)."""
    try:
        st = os.stat(path)
    except OSError:
        return str(path.resolve())
    return (st.st_dev, st.st_ino)


def parse_config(raw: dict[str, Any], base_dir: Path | str = ".", source: str = "config") -> RunConfig:
    """Validate a config mapping, strictly (a quoted number or bool is refused, not read as one); errors name the key
    path (``training.lr``), the rule and the value."""
    if "base_dir" in raw:
        raise ConfigError(f"{source}: 'base_dir' is not a config key (paths are relative to the config file)")
    try:
        # Strict, as JSON: a TOML array is a tuple where one is due, but "60" is not a number nor "true" a bool.
        text = json.dumps({**raw, "base_dir": str(Path(base_dir).resolve())}, default=str)
        return RunConfig.model_validate_json(text, strict=True)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            if not loc:  # a check across sections: its message names the keys
                problems.append(rule_text(err["msg"]))
                continue
            bad = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
            problems.append(f"{loc}: {rule_text(err['msg'])}{bad}")
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
