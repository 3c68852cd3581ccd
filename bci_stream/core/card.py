"""The model card: a self-description stored beside every ONNX model as ``model.json``."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bci_stream.core.contract import METADATA_KEY, StepSpec
from bci_stream.core.preprocessing import PreprocessingConfig
from bci_stream.core.units import same_size

#: The card format the service runs: the ONNX file is a step graph (:mod:`bci_stream.core.contract`).
FORMAT_VERSION = 2

CARD_FILE = "model.json"
ONNX_FILE = "model.onnx"
#: A model name: a folder name of the registry. Letters, digits, ``_ . -``, starting with a letter or digit, so
#: that ``.``, ``..`` and hidden names can never name a folder outside (or the root of) the registry.
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
#: A model reference in a request: ``NAME`` or ``NAME@VERSION`` (``NAME`` as :data:`MODEL_NAME_PATTERN`).
MODEL_REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*(@[A-Za-z0-9_.+-]+)?$"


def implied_format_version(raw: Any) -> Any:
    """The card format of parsed card JSON ``raw``: its ``format_version``, else 2 when it describes a step graph
    (``step``) and 1 when it does not (a bare recurrent graph, as a model author writes the card of their own export).
    Before, a missing key meant 2 to the registry (the error then named ``step``, a field the author never wrote) and
    1 to ``upgrade-model``, which then refused the card for the same reason."""
    if not isinstance(raw, Mapping):
        return None
    if "format_version" in raw:
        return raw["format_version"]
    return FORMAT_VERSION if raw.get("step") is not None else 1


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

    @model_validator(mode="after")
    def _check(self) -> OutputSpec:
        # each output names one channel of the decoded stream and one class a cue maps to (audit s69classic F1, F2)
        if blank := [i for i, label in enumerate(self.labels) if not label.strip()]:
            raise ValueError(f"output.labels must each name an output, got a blank one at position(s) {blank}: "
                             f"{self.labels}")
        if len({label.strip() for label in self.labels}) != len(self.labels):
            raise ValueError(f"output.labels must be unique (a consumer tells the outputs apart by them), got "
                             f"{self.labels}")
        if self.kind == "categorical" and len(self.labels) < 2:
            raise ValueError(f"output.labels must name at least 2 classes for kind 'categorical' (a softmax over one "
                             f"class is 1.0 whatever the input), got {self.labels}: a binary net outputs both "
                             "classes' probabilities, [1 - p, p] of a sigmoid's p")
        return self


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

    format_version: int = Field(FORMAT_VERSION, ge=1, le=FORMAT_VERSION, strict=True,  # the JSON's, else implied:
                                description="1 (a bare recurrent graph) or 2 (a step graph)")  # (99, "2", true: s70)
    name: str = Field(min_length=1, pattern=MODEL_NAME_PATTERN)
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

    @model_validator(mode="before")
    @classmethod
    def _implied_format(cls, raw: Any) -> Any:
        if isinstance(raw, Mapping) and "format_version" not in raw:
            raw = {**raw, "format_version": implied_format_version(raw)}
        arch = raw.get("architecture") if isinstance(raw, Mapping) else None
        if isinstance(arch, Mapping) and str(arch.get("cell") or "").lower() == "lstm":  # an LSTM's own names by
            defaults = {"inputs": ["x", "h0", "c0"], "outputs": ["y", "hn", "cn"]}  # default, not a GRU's (an
            raw = {**{k: v for k, v in defaults.items() if k not in raw}, **raw}  # LSTM fed no c0: s69classic F4)
        return raw

    @model_validator(mode="after")
    def _check(self) -> ModelCard:
        if len(self.ch_names) != self.n_chans:
            raise ValueError(f"ch_names must have n_chans={self.n_chans} entries, got {len(self.ch_names)}")
        if len(set(self.ch_names)) != len(self.ch_names):
            raise ValueError("ch_names must be unique")
        if blank := [i for i, name in enumerate(self.ch_names) if not name.strip()]:
            raise ValueError(f"ch_names must each name a channel (the stream's channels are picked by label), got a "
                             f"blank one at position(s) {blank}")
        if self.scoring is not None and (bad := sorted({c for c in self.scoring.marker_map.values() if c is not None}
                                                       - set(self.output.labels))):
            raise ValueError(f"scoring.marker_map must map markers to output labels {self.output.labels}, got {bad}")
        if self.format_version == 1 and self.step is not None:  # read as format 1 by upgrade-model (audit s70model F5)
            raise ValueError("format_version 1 is a bare recurrent graph, without a step; a card with a step graph is "
                             f"format_version {FORMAT_VERSION}")
        if self.format_version >= 2:
            if self.step is None:
                raise ValueError(f"step must describe the step graph for format_version {self.format_version}")
            if self.step.n_outputs != self.n_outputs:
                raise ValueError(f"output.labels has {self.n_outputs} labels, but the step graph's output 'y' has "
                                 f"{self.step.n_outputs} outputs (step.n_outputs): give one label per output")
            if self.step.n_chans != self.n_chans:
                raise ValueError(f"n_chans is {self.n_chans}, but the step graph's input 'x' takes "
                                 f"{self.step.n_chans} channels (step.n_chans)")
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

    def key(self) -> str:
        """Its ONNX file's sha256 and a digest of the card itself: two copies of one file whose cards differ (another
        name or version, channel names, unit) have one sha256 and two keys (a shared worker's sessions and state
        tables are by key)."""
        return f"{self.sha256}:{hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]}"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _short(value: Any, limit: int = 8) -> str:
    """``value`` as text; a long list shows its first ``limit`` items and its length."""
    if isinstance(value, list) and len(value) > limit:
        return "[" + ", ".join(repr(v) for v in value[:limit]) + f", ... ({len(value)} in all)]"
    return repr(value)


def _list_difference(card_v: list, graph_v: list) -> str:
    """Where two lists differ: the same items in another order, or the first differing position."""
    if len(card_v) != len(graph_v):
        return f"{len(card_v)} entries on the card, {len(graph_v)} in the graph"
    i = next(k for k, (a, b) in enumerate(zip(card_v, graph_v)) if a != b)
    order = "the same entries in another order; " if sorted(map(str, card_v)) == sorted(map(str, graph_v)) else ""
    return f"{order}first difference at position {i}: card {card_v[i]!r}, graph {graph_v[i]!r}"


def _first_difference(a: Any, b: Any, path: str) -> str:
    """The path of the first place where two JSON-like values differ, e.g. ``step.states[0].shape``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for k, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}[{k}]")
    return f"{path} is {_short(a)} on the card but {_short(b)} in the graph"


def architecture_problem(card: ModelCard) -> str | None:
    """Where a recurrent card's ``architecture`` (``cell``, ``n_layers``, ``hidden_size``: what ``/models``, the
    status and ``inspect`` report) disagrees with its step graph's recurrent states (what runs: ``h0``, and ``c0``
    for an LSTM, each ``[n_layers, 1, hidden_size]``), or None. Before, an edited card served a graph other than
    the one it described, and only ``inspect`` noticed."""
    arch, step = card.architecture, card.step
    if arch.family != "recurrent" or step is None:
        return None
    states = {s.name: list(s.shape) for s in step.states if s.role == "recurrent"}
    want = ["h0", "c0"] if arch.cell == "lstm" else ["h0"]
    expect = [arch.n_layers, 1, arch.hidden_size]
    if sorted(states) == sorted(want) and all(shape == expect for shape in states.values()):
        return None
    return (f"model '{card.ref}': the card's architecture (cell {arch.cell!r}, n_layers {arch.n_layers}, "
            f"hidden_size {arch.hidden_size}: recurrent states {want}, each of shape {expect}) disagrees with its "
            f"step graph's recurrent states {states}: the card was edited after export; restore it, or export the "
            "model again")


def metadata_problem(card: ModelCard, meta: Mapping[str, str], onnx_path: Path | str) -> str | None:
    """Why ``card`` cannot run the graph at ``onnx_path`` whose ``metadata_props`` are ``meta``
    (:func:`graph_metadata_disagreements`), or None: what loading the model refuses, and what ``/ready`` and
    ``bci-stream models`` say of it."""
    differ = graph_metadata_disagreements(card, meta)
    if not differ:
        return None
    return (f"model '{card.ref}': its card disagrees with the graph {onnx_path} (the metadata_props written at "
            f"export): {'; '.join(differ)}. The card was edited after export: restore it, or export the model again")


def graph_metadata_disagreements(card: ModelCard, meta: Mapping[str, str]) -> list[str]:
    """Where ``card`` disagrees with the ``metadata_props`` that export wrote into its ONNX graph.

    Export (``bci_stream.train.export.step_graph.write_model``) records ``ch_names``, ``n_chans``,
    ``sfreq``, ``unit``, ``output_kind``, ``output_labels`` and the step-graph I/O (key
    :data:`~bci_stream.core.contract.METADATA_KEY`) in the graph, which the card's sha256 pins; a card
    edited afterwards (channels renamed or reordered, labels swapped) would make the service read the
    stream's channels into the wrong inputs or publish an output under the wrong name. Keys the graph
    does not hold (older exports, e.g. without ``preprocessing``) are not checked; ``name`` and ``version`` are
    identity, not behaviour, and are not checked either (a copied model may be renamed).

    Parameters
    ----------
    card
        The model card.
    meta
        The graph's metadata, e.g. ``session.get_modelmeta().custom_metadata_map`` of onnxruntime.

    Returns
    -------
    list of str
        One sentence per disagreeing field, naming it with the card's and the graph's value; empty when
        they agree.
    """
    out: list[str] = []

    def parse(key: str, convert: Any) -> Any:
        try:
            return convert(meta[key])
        except (TypeError, ValueError) as exc:
            out.append(f"the graph's metadata_props {key!r} is unreadable ({exc}): {meta[key][:80]!r}")
            return None

    for key, card_v, convert in (("ch_names", card.ch_names, json.loads),
                                 ("output_labels", card.output.labels, json.loads)):
        if key not in meta:
            continue
        graph_v = parse(key, convert)
        if graph_v is None:
            continue
        if not isinstance(graph_v, list):
            out.append(f"the graph's metadata_props {key!r} must be a JSON list, got {_short(graph_v)}")
        elif list(graph_v) != list(card_v):
            field = "output.labels" if key == "output_labels" else key
            out.append(f"{field} is {_short(card_v)} on the card but {_short(graph_v)} in the graph "
                       f"({_list_difference(list(card_v), list(graph_v))})")
    if "n_chans" in meta and (graph_n := parse("n_chans", int)) is not None and graph_n != card.n_chans:
        out.append(f"n_chans is {card.n_chans} on the card but {graph_n} in the graph")
    if "sfreq" in meta and (graph_f := parse("sfreq", float)) is not None and not math.isclose(
            graph_f, card.sfreq, rel_tol=1e-9):
        out.append(f"sfreq is {card.sfreq:g} Hz on the card but {graph_f:g} Hz in the graph")
    if "unit" in meta and not same_size(meta["unit"], card.unit):  # export writes it since 2026-12-02 (uV == µV)
        out.append(f"unit is {card.unit!r} on the card but {meta['unit']!r} in the graph (the stream would be read "
                   "in the wrong unit)")
    if "output_kind" in meta and meta["output_kind"] != card.output.kind:
        out.append(f"output.kind is {card.output.kind!r} on the card but {meta['output_kind']!r} in the graph")
    if "preprocessing" in meta:  # written by export since 2026-11-30
        graph_pre = parse("preprocessing", PreprocessingConfig.model_validate_json)
        if graph_pre is not None and graph_pre != card.preprocessing:
            out.append(_first_difference(card.preprocessing.model_dump(mode="json"),
                                         graph_pre.model_dump(mode="json"), "preprocessing"))
    if METADATA_KEY in meta and card.step is not None:
        graph_step = parse(METADATA_KEY, StepSpec.model_validate_json)
        if graph_step is not None and graph_step != card.step:
            out.append(_first_difference(card.step.model_dump(mode="json"), graph_step.model_dump(mode="json"),
                                         "step"))
    return out
