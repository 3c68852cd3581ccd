"""What a decoder is asked to do: the request body of ``POST /decoders`` and the worker's input."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bci_stream.core.card import MODEL_REF_PATTERN
from bci_stream.core.lsl_text import NAME_MAX, PRINTABLE

if TYPE_CHECKING:
    from bci_stream.core.card import ModelCard

#: ``options.record_path``: folders and a file name of ASCII letters, digits, ``_``, ``.`` and ``-``, joined by ``/``
#: (relative, so inside recordings_dir; a ``.`` or ``..`` part is refused too: :func:`check_record_path`)
RECORD_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
RECORD_PATH_RULE = ("a relative path of ASCII letters, digits, '_', '.' and '-', folders separated by '/' (no spaces, "
                    "accents or other characters; no '.' or '..' folder)")


def check_record_path(value: str, name: str) -> str:
    """``value``, a file under recordings_dir (:data:`RECORD_PATH_RULE`); ValueError naming ``name`` otherwise
    (a decoder's ``record_path``, a recording's ``out``)."""
    if not RECORD_PATH.fullmatch(value):
        raise ValueError(f"{name} must be {RECORD_PATH_RULE}; got {value!r}")
    if any(p in (".", "..") for p in value.split("/")):
        raise ValueError(f"{name} must stay inside recordings_dir (no '.' or '..'), got {value!r}")
    return check_xdf_suffix(value, name)


def check_xdf_suffix(value: str, name: str) -> str:
    """``value``, a recording's file name, when it ends in ``.xdf`` (the file is XDF, and calibrate, evaluate and
    replay read a file by its suffix); ValueError naming ``name`` otherwise."""
    if not value.lower().endswith(".xdf"):
        raise ValueError(f"{name} must end in .xdf (an XDF file, which calibrate and replay read by its suffix), "
                         f"got {value!r}")
    return value


#: ``options.gap_threshold_s``'s default: a step of the input's timestamps longer than this is a gap (``gap`` event,
#: gap policy); the XDF reader marks a forward jump of a recording's timestamps by it (:mod:`bci_stream.io.xdf_clock`)
GAP_THRESHOLD_S = 0.5
#: A gap is also longer than this many sample periods, whatever ``gap_threshold_s``: at rates of 2 Hz and below
#: every ordinary step (0.5 s and more, late by some jitter) was a gap; the XDF reader's rule for a jump too
GAP_MIN_PERIODS = 3


def gap_threshold(sfreq: float, threshold_s: float = GAP_THRESHOLD_S) -> float:
    """The least length of a gap in a stream at ``sfreq``: ``threshold_s`` and :data:`GAP_MIN_PERIODS` periods (the
    live rule, :class:`~bci_stream.lsl.gaps.GapTracker`, and the XDF reader's for a jump)."""
    return max(threshold_s, GAP_MIN_PERIODS / sfreq)


#: ``options.source_grace_s``'s default, s: how long a stalled decoder's own source may stay gone while another stream
#: that fits the model matches its selector, before the decoder ends in ``error`` (it never switches sources). An
#: amplifier's driver or sender app that restarts, or a USB hiccup, is back within a few seconds (1.5-4.4 s in the
#: audit that found the decoder ended ~1 s into such an outage); 10 s is over twice that, and the source is looked
#: at 6 times meanwhile (the stall's backoff, 0.25 s doubling to 4 s). It only delays the error of a decoder whose
#: source is really gone: a decoder is never switched to the other stream, whatever the grace
SOURCE_GRACE_S = 10.0
#: ``options.output_name``'s longest value: LSL takes names of any length, this leaves a provenance stream's
#: ``-provenance`` suffix room within the 256 characters a stream selector's name may have
OUTPUT_NAME_MAX = 200
#: The longest output_source_id: a derived one is the input's source_id + 46 characters (``/decoded/<sha>/<id>``).
SOURCE_ID_MAX = 4096

WorkerKind = Literal["dedicated", "shared"]
DEFAULT_WORKER: WorkerKind = "shared"
"""The worker kind of a decoder whose options do not name one: the one constant to change to make ``shared`` the
default. A service overrides it with its ``worker`` setting (``BCI_STREAM_WORKER``)."""


#: Every request model's rules: no field but its own; NaN/inf is "a finite number", not a bound; and strict types: a
#: number is a JSON number and a flag a JSON bool (``"resolve_timeout": "5"`` or ``"enabled": "yes"`` are refused
#: naming the field, not read as 5 and true).
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class StreamSelector(BaseModel):
    """Which LSL stream to decode; every field given must match."""

    model_config = STRICT

    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX, pattern=PRINTABLE)
    type: str | None = Field(default=None, min_length=1, max_length=NAME_MAX, pattern=PRINTABLE)
    source_id: str | None = Field(default=None, min_length=1, max_length=NAME_MAX, pattern=PRINTABLE)
    hostname: str | None = Field(default=None, min_length=1, max_length=NAME_MAX, pattern=PRINTABLE)

    @model_validator(mode="after")
    def _at_least_one(self) -> StreamSelector:
        if not any((self.name, self.type, self.source_id, self.hostname)):
            raise ValueError("give at least one of name, type, source_id, hostname")
        return self

    def may_select_same(self, other: StreamSelector) -> bool:
        """Whether one stream could match both selectors: no field given in both differs."""
        pairs = ((self.name, other.name), (self.type, other.type), (self.source_id, other.source_id),
                 (self.hostname, other.hostname))
        return all(a is None or b is None or a == b for a, b in pairs)


class MarkerOptions(BaseModel):
    """Which marker stream a decoder follows, and how its cues are scored live.

    Markers go into the recording, to WebSocket clients (``?markers=true``) and, when a ``marker_map`` is
    known (here, else the card's ``scoring.marker_map``, else its ``training.label_map``, else marker values
    equal to output labels), into live trial scoring.
    """

    model_config = STRICT

    enabled: bool = Field(default=True, description="Follow a marker stream (false: no marker inlet at all).")
    stream: StreamSelector | None = Field(
        default=None, description="The marker stream; default: '<input name>-markers' or '<input name>-annotations' "
        "(mne-lsl's player) on the input's host, when present.",
    )
    marker_map: dict[str, str | None] | None = Field(
        default=None, description="Marker value -> output label it cues (null: not a trial); overrides the card's.",
    )
    decision_time_s: float | None = Field(
        default=None, gt=0, le=60, allow_inf_nan=False,
        description="Seconds after a cue at which its trial is decided (argmax of the output); default: the "
        "card's scoring.decision_time_s, else 2 s.",
    )
    keep_trials: int = Field(default=20, ge=1, le=1000, description="Most recent scored trials shown in status.")
    history_s: float = Field(
        default=30.0, gt=0, le=1200, allow_inf_nan=False,
        description="Seconds of decoded outputs (at the stream's nominal rate) kept to score a cue whose marker "
        "arrives after its samples were decoded, and on top of them max_buffer_s (a burst of held-up samples decoded "
        "at once comes before its markers); a marker later than that is counted missed. 28 bytes per sample "
        "(30 s at 250 Hz: 224 kB). A replay at speed S gives a late marker S times less wall time: evaluate --live "
        "sets 30 s x S.",
    )
    reset_grace_s: float = Field(
        default=0.2, ge=0, le=60, allow_inf_nan=False,
        description="A reset or state restore through the API at most this many seconds (of samples at the stream's "
        "nominal rate) after a cue's first output starts that cue's trial, which is then scored (reset_at_start), "
        "not interrupted: a client that resets on each cue marker reacts some samples late. 0: only a reset on the "
        "cue's first output sample.",
    )

    @model_validator(mode="after")
    def _check_map(self) -> MarkerOptions:
        if self.marker_map is not None and not self.marker_map:
            raise ValueError("marker_map must map at least one marker value, got {}")
        return self


class Placement(BaseModel):
    """Where a decoder's worker runs (the ``ray`` backend; see ``deploy/RAY.md``): Ray custom resources, or one
    node by id or hostname. The ``local`` backend accepts only ``hostname`` naming its own host."""

    model_config = STRICT

    resources: dict[str, float] | None = Field(default=None, min_length=1, description="Ray resources the worker "
        "needs on its node, e.g. {\"room_b\": 1} (custom resources a node was started with: `ray start --resources`); "
        "'CPU' is the number of cores it holds (default 0).")
    node_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[0-9a-fA-F]+$",
                                description="Run on the Ray node with this id (hex, as `ray.nodes()` lists it; as "
                                "`ray status` prints it, `node_<hex>`, too), or a prefix of it of 8 or more digits "
                                "that only this node's id starts with.")
    hostname: str | None = Field(default=None, min_length=1, max_length=255, pattern=PRINTABLE,
                                 description="Run on the node of this host name.")
    soft: bool = Field(
        default=False,
        description="node_id/hostname is a preference: while that node is gone, run on any node that has the "
        "resources (default: only there, else the decoder is refused or goes to 'error').",
    )

    @field_validator("node_id", mode="before")
    @classmethod
    def _node_id(cls, value: Any) -> Any:
        """``node_<hex>`` (``ray status``) is the id ``<hex>``; ids are lower case."""
        return value.removeprefix("node_").lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> Placement:
        if self.resources is None and self.node_id is None and self.hostname is None:
            raise ValueError("placement must name resources, node_id or hostname, got none of them")
        if self.node_id is not None and self.hostname is not None:
            raise ValueError(f"placement takes node_id or hostname, not both; got node_id={self.node_id!r} "
                             f"and hostname={self.hostname!r}")
        if self.soft and self.node_id is None and self.hostname is None:
            raise ValueError("placement.soft needs node_id or hostname (resources are always required)")
        for name, amount in (self.resources or {}).items():  # Ray's rules too (before: a 500 from Ray, s70ray F2)
            if not (name and 0 < amount < float("inf")) or name in ("memory", "object_store_memory") \
                    or abs(amount * 1e4 - round(amount * 1e4)) > 1e-6:
                raise ValueError(f"placement.resources must map names to amounts > 0 in steps of 0.0001 (Ray's "
                                 f"precision), not Ray's own memory or object_store_memory; got {name!r}: {amount!r}")
        return self


class DecoderOptions(BaseModel):
    """Per-decoder options; every one has a safe default."""

    model_config = STRICT

    resolve_timeout: float | None = Field(
        default=None, gt=0, allow_inf_nan=False,
        description="Seconds to wait for the stream to appear; None waits until stopped."
    )
    nan_policy: Literal["hold", "zero", "reject"] = Field(
        default="hold",
        description="Samples with NaN/inf (or values beyond ±1 V, corrupt): replace by the channel's last finite "
        "value (hold) or 0 (zero: on a DC-coupled stream a step the size of the electrode offset), or reject the "
        "sample (no output; counted in samples_rejected). Always counted, the channels named (stream.nonfinite).",
    )
    latency_budget_ms: float | None = Field(
        default=None, gt=0, allow_inf_nan=False,
        description="In-service deadline per chunk; default the chunk's span (its samples / sfreq): one sample "
        "period for single samples.",
    )
    max_buffer_s: float = Field(default=30.0, gt=0, le=600, description="LSL inlet buffer in seconds.")
    time_correction: Literal["auto", "lsl", "none"] = Field(
        default="auto", description="How source timestamps are mapped to this host's clock."
    )
    timestamp_repair: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Senders that give a whole chunk one timestamp (a stair-case of repeated stamps): give each "
        "sample its own time from a line fitted to the chunks' stamps (auto: when detected; on: always; off: "
        "never). Irregular-rate streams are never repaired. Jitter before/after in status 'timestamps'.",
    )
    stall_timeout_s: float | None = Field(
        default=None, ge=0.1, le=3600,
        description="No data for this long → state 'stalled'; default max(1 s, 20 sample periods).",
    )
    source_grace_s: float = Field(
        default=SOURCE_GRACE_S, ge=0, le=3600,
        description="Stalled, its source gone, and another stream that fits the model matching the selector: how "
        "long the source (its source_id) may take to come back before the decoder ends in 'error' (it never switches "
        "to the other stream; 0: at the first look). A matching stream that cannot fit the model never ends it.",
    )
    gap_policy: Literal["keep", "reset", "decay"] = Field(
        default="keep",
        description="After a gap longer than gap_threshold_s: keep the state, reset it (recurrent and "
        "filter state, as at start), or decay the recurrent state towards zero by exp(-gap/decay_tau_s) (a model "
        "without a recurrent state, e.g. a classical family, refuses 'decay': 422 at start and at a hot swap).",
    )
    divergence_policy: Literal["reset", "keep"] = Field(
        default="reset",
        description="A model whose state diverges (NaN or inf after a step, its outputs NaN): reset the state to the "
        "model's initial state at once (reset: counted in divergence_resets, a new state_epoch) or keep it (every "
        "output then NaN until POST /reset). Either way said in output_stream.nonfinite.warning, the log and events.",
    )
    gap_threshold_s: float = Field(default=GAP_THRESHOLD_S, gt=0, le=3600,
                                   description="Gap length that triggers gap_policy (at least 3 sample periods "
                                   "of the stream: at 1 Hz, 3 s).")
    decay_tau_s: float = Field(default=1.0, gt=0, le=3600, description="Time constant of the 'decay' gap policy.")
    provenance: bool = Field(
        default=True, description="Publish '<decoded stream name>-provenance' (seq, state_epoch per output "
        "sample): '<input name>-decoded-provenance', or '<output_name>-provenance'.",
    )
    input_unit: str | None = Field(
        default=None, min_length=1, max_length=32,
        description="Unit of the stream's samples when its desc gives none (V, mV, uV, µV, nV, or their names), or "
        "a number and one for raw ADC counts ('0.02235 uV': one stream unit is 0.02235 µV); default: the model "
        "card's unit. A unit in the desc always wins.",
    )

    @field_validator("input_unit")
    @classmethod
    def _voltage_unit(cls, value: str | None) -> str | None:
        from bci_stream.core.units import unit_problem

        if value is not None and (why := unit_problem(value)) is not None:
            raise ValueError(f"input_unit {why}; got {value!r}")
        return value

    output_instance: str | None = Field(
        default=None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$",
        description="Appended to the decoded stream's source_id (<input source_id>/decoded/<model sha[:12]>/<this>) "
        "so that two decoders of one stream and model never share one (liblsl would move a consumer from one to "
        "the other). Not given: none, unless another decoder of the same model (name) whose stream selector may "
        "match the same stream already runs in this service; then the new decoder's id.",
    )
    output_source_id: str | None = Field(
        default=None, min_length=1, max_length=SOURCE_ID_MAX, pattern=PRINTABLE,
        description="The decoded stream's whole source_id, instead of the one derived from the input and the model "
        "(output_instance is then not used). The supervisor sets it after a hot swap, so a restarted worker opens "
        "the same decoded stream its consumers follow: printable text, as the input's source_id it derives from "
        "(which may hold spaces or any letter).",
    )
    output_name: str | None = Field(
        default=None, min_length=1, max_length=OUTPUT_NAME_MAX, pattern=PRINTABLE,
        description="Name of the decoded LSL stream (its provenance stream: '<output_name>-provenance'); default "
        "'<input name>-decoded'. Give one to each decoder of one input stream, so that a consumer resolving by name "
        "(pylsl resolve_byprop('name', ...), mne-lsl StreamLSL(name=...)) gets the decoder it means: two decoders "
        "of one service publishing one name are told apart only by their source_id (status "
        "output_stream.name_shared_with).",
    )

    @field_validator("output_name")
    @classmethod
    def _output_name_trimmed(cls, value: str | None) -> str | None:
        if value is not None and value.strip() != value:
            raise ValueError(f"output_name must not start or end with white space (a consumer resolving by name "
                             f"would have to repeat it exactly), got {value!r}")
        return value

    record_path: str | None = Field(
        default=None, min_length=1, max_length=255, json_schema_extra={"pattern": RECORD_PATH.pattern},
        description="Record inputs, outputs and events to this XDF file, relative to the service's "
        f"recordings_dir (must not exist yet): {RECORD_PATH_RULE}.",
    )

    @field_validator("record_path")
    @classmethod
    def _record_path_chars(cls, value: str | None) -> str | None:
        return None if value is None else check_record_path(value, "record_path")
    wait_for_consumer_s: float = Field(
        default=0.0, ge=0, le=60, allow_inf_nan=False,
        description="Before the first output, wait up to this many seconds for a consumer of the decoded LSL stream "
        "(e.g. the lab's stimulus program), so it receives every output from the first: LSL delivers only what is "
        "pushed after a consumer subscribes. The input buffers meanwhile (must be < max_buffer_s); 0: no wait.",
    )
    outputs_buffer_s: float = Field(
        default=10.0, gt=0, le=600, description="Seconds of outputs kept for HTTP/WebSocket readers (drop-oldest)."
    )
    markers: MarkerOptions = Field(
        default_factory=MarkerOptions, description="Marker stream to follow, record and score live trials against."
    )
    worker: WorkerKind = Field(
        default=DEFAULT_WORKER,
        description="dedicated: a worker process of its own (lowest latency for one stream); shared: a stream in "
        "one of the service's shared workers, where streams of the same model share one session and are stepped "
        "together (much less CPU and memory per stream). Status 'worker' shows which worker serves it. Not given: "
        "the service's 'worker' setting (BCI_STREAM_WORKER). Not used by the ray backend, where every decoder has an "
        "actor of its own (status worker.kind 'ray').",
    )
    snapshot_interval_s: float = Field(
        default=1.0, ge=0.05, le=3600, allow_inf_nan=False,
        description="Seconds between state snapshots a worker (dedicated or shared) sends to the supervisor; a "
        "crashed worker's streams restart from their last snapshot (the gap since their last output is counted).",
    )

    placement: Placement | None = Field(
        default=None,
        description="Which node runs the worker (backend 'ray'): Ray resources, node_id or hostname. Status "
        "'placement' shows where it runs. A placement no node can satisfy is refused (422).",
    )

    @model_validator(mode="after")
    def _check_wait(self) -> DecoderOptions:
        if self.wait_for_consumer_s >= self.max_buffer_s:
            raise ValueError(f"wait_for_consumer_s must be below max_buffer_s ({self.max_buffer_s:g} s: the input "
                             f"buffers while the decoder waits), got {self.wait_for_consumer_s:g}")
        return self


#: A decoder id given in a request (``DecoderSpec.id``): as ``options.output_instance``, which may carry it.
DECODER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class DecoderSpec(BaseModel):
    """A decoder: a stream selector, a model reference (``name`` or ``name@version``), options."""

    model_config = STRICT

    stream: StreamSelector
    model: str = Field(min_length=1, max_length=256, pattern=MODEL_REF_PATTERN)
    options: DecoderOptions = DecoderOptions()
    id: str | None = Field(
        default=None, min_length=1, max_length=40, pattern=DECODER_ID_PATTERN,
        description="The decoder's id (its URL /decoders/<id>, its /metrics label decoder_id): letters, digits, _ . "
        "-, starting with a letter or digit. Give one to a config file's decoder so that it keeps it across service "
        "restarts (dashboards and alerts follow one series); 409 while a decoder of that id exists. Default: a new "
        "random 12-hex-digit id.",
    )

    @model_validator(mode="after")
    def _output_name_not_input(self) -> DecoderSpec:
        name = self.options.output_name
        if name is not None and name == self.stream.name:
            raise ValueError(f"options.output_name must differ from stream.name (a decoder selecting the input by "
                             f"name could select the decoded stream instead), got {name!r} for both")
        if (sid := self.options.output_source_id) is not None and sid == self.stream.source_id:  # (s67readme F4)
            raise ValueError(f"options.output_source_id must differ from stream.source_id (two outlets never share a "
                             f"source_id: liblsl would move the input's consumers to the decoded stream), got {sid!r} "
                             "for both")
        return self


def gap_policy_refusal(options: DecoderOptions, card: ModelCard) -> str | None:
    """Why ``options.gap_policy`` cannot run ``card``'s model, or None when it can.

    ``decay`` scales the states of role ``recurrent`` (:meth:`~bci_stream.engine.stream_state.StreamState.decay`);
    a model without one (the classical families: filter and estimator states only) would be left unchanged, so
    the policy is refused rather than counted as applied.
    """
    if options.gap_policy != "decay":
        return None
    states = [] if card.step is None else card.step.states
    if any(s.role == "recurrent" for s in states):
        return None
    roles = sorted({s.role for s in states})
    return (f"options.gap_policy 'decay' needs a recurrent state (it scales the recurrent state by "
            f"exp(-gap/decay_tau_s)); model '{card.ref}' (family {card.architecture.family!r}) has none (its states: "
            f"{', '.join(roles) or 'none'}). Use gap_policy 'reset' or 'keep' with this model")
