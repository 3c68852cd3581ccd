"""The ``[model]`` section of a run config: which causal net a run trains (and the bidirectional nets beside it).

The layers are given one of three ways, read in this order by
:func:`~bci_stream.train.stages.build_causal`: a ``preset`` (its own cell and widths), ``hidden_sizes`` (one width per
layer) or ``hidden_size`` with ``n_layers``. A key that the net would not follow is refused when the config is read,
naming the keys, the rule and the values (before, it was ignored silently, against "a typo never silently falls
back to a default"): ``cell``, ``hidden_size``, ``n_layers`` or ``hidden_sizes`` beside a preset that sets them
otherwise, ``hidden_size`` or ``n_layers`` beside ``hidden_sizes`` that say otherwise, and ``spatial_init = "csp"``
without power filters to initialise. Only keys the file sets count: a default never makes a config refused, and a key
that says what the net is anyway (``cell = "lstm"`` with the ``stacked_lstm`` preset) is kept.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bci_stream.train.nets.presets import PRESETS


class ModelConfig(BaseModel):
    """The causal net: its layers (``preset``, ``hidden_sizes``, or ``hidden_size`` × ``n_layers``), dropout, the
    offline-only attention readout and the power-filter front-end (``power_filters``, initialised by
    ``spatial_init``: random, or CSP filters fitted on the training data)."""

    model_config = ConfigDict(extra="forbid")

    preset: Literal["stacked_lstm"] | None = None
    cell: Literal["gru", "lstm"] = "gru"
    hidden_size: int = Field(default=64, ge=1)
    n_layers: int = Field(default=1, ge=1)
    hidden_sizes: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, min_length=1)  # [] is no layer
    dropout: float = Field(default=0.0, ge=0, lt=1)
    input_dropout: float = Field(default=0.0, ge=0, lt=1)
    attention_window: int = Field(default=0, ge=0)
    power_filters: int = Field(default=0, ge=0)
    spatial_init: Literal["random", "csp"] = "random"

    @model_validator(mode="after")
    def _no_key_ignored(self) -> ModelConfig:
        """Refuse a key the file sets that the net would not follow (see the module docstring)."""
        given = self.model_fields_set
        if self.preset is not None:
            args = PRESETS[self.preset]
            _refuse_ignored(given, self._values(), args["cell"], args["hidden_sizes"],
                            ("cell", "hidden_size", "n_layers", "hidden_sizes"),
                            f"model.preset = {self.preset!r} sets its own layers ({_layers(args)})",
                            "remove them, or remove model.preset and give the layers with model.cell and "
                            "model.hidden_sizes")
        elif self.hidden_sizes is not None:
            _refuse_ignored(given, self._values(), self.cell, self.hidden_sizes, ("hidden_size", "n_layers"),
                            f"model.hidden_sizes = {self.hidden_sizes} gives every layer's width, and so the number "
                            "of layers", "remove them, or remove model.hidden_sizes")
        if self.spatial_init == "csp" and "spatial_init" in given and not self.power_filters:
            how = "set" if "power_filters" in given else "its default"
            raise ValueError(f"model.spatial_init = 'csp' initialises the power filters, but model.power_filters = 0 "
                             f"({how}) makes none, so it would do nothing: set model.power_filters > 0 (e.g. 8), or "
                             f"remove model.spatial_init")
        return self

    def _values(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("cell", "hidden_size", "n_layers", "hidden_sizes")}


def _layers(args: dict[str, Any]) -> str:
    return f"model.cell = {args['cell']!r}, model.hidden_sizes = {list(args['hidden_sizes'])}"


def _follows(key: str, value: Any, cell: str, sizes: list[int]) -> bool:
    """Whether ``key = value`` says what the net built of ``cell`` layers of widths ``sizes`` is anyway."""
    if key == "hidden_sizes":
        return list(value) == list(sizes)
    if key == "hidden_size":
        return all(s == value for s in sizes)
    return value == (len(sizes) if key == "n_layers" else cell)


def _refuse_ignored(given: set[str], values: dict[str, Any], cell: str, sizes: list[int], keys: tuple[str, ...],
                    rule: str, fix: str) -> None:
    """ValueError naming the ``keys`` the file sets (``given``) whose values the net (``cell``, ``sizes``) ignores."""
    ignored = [k for k in keys if k in given and not _follows(k, values[k], cell, sizes)]
    if ignored:
        said = ", ".join(f"model.{k} = {values[k]!r}" for k in ignored)
        raise ValueError(f"{rule}, so {said} would be ignored (the net would be {len(sizes)} {cell.upper()} "
                         f"layer(s) of {list(sizes)}): {fix}")


__all__ = ["ModelConfig"]
