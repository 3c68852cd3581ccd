"""Response bodies of the HTTP API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from bci_stream.core.status import DecoderState


class LatencySummary(BaseModel):
    """A stage's ``count`` of values observed, and the percentiles, mean and max (ms) of those measured (all but the
    ``n_negative`` below zero)."""

    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    p99_9: float | None
    mean: float | None
    max: float | None
    n_negative: int = 0
    """Values below zero, in ``count`` but left out of the figures above: ``e2e`` of samples stamped ahead of this
    host's clock (a sender stamping in the future, e.g. mne-lsl PlayerLSL), whose end-to-end latency is not
    measurable."""
    ahead_ms: float | None = None
    """How far ahead of this host's clock those input timestamps were, at most, ms (None: no value below zero)."""
    note: str | None = None
    """What ``n_negative`` means, and values above 100 s (the top bucket: input timestamps far behind this host's
    clock, or a decoder that far behind), in words (None when there are neither)."""


class LoadStatus(BaseModel):
    """Is the decoder keeping up, now: figures over the last ``window_s`` (a window of ~10 s sliding in 1 s steps;
    shorter in the first seconds), beside the cumulative ``counters`` and ``latency_ms``."""

    window_s: float
    """The span the recent figures cover, seconds."""
    input_rate_hz: float | None
    """Samples pulled per second over the window: the stream's rate (``stream.sfreq`` × the sender's speed) while the
    decoder keeps pace; 0 when the source is silent."""
    chunk_rate_hz: float | None
    """Chunks pulled (and decoded, each in one call) per second over the window."""
    samples_lost: int | None = None
    """Samples counted lost over the window (gaps in the input's stamps: a sender's pause, or the inlet buffer,
    ``options.max_buffer_s``, overflowing while the decoder falls behind)."""
    busy: float | None
    """Fraction of the window's wall time the worker spent on this decoder's chunks, from the end of each pull to the
    end of its publishing (waiting for data not counted). Near 1: saturated. In a shared worker, where streams due
    together are stepped in one call, a stream counts its staging, its share of that call and its publishing."""
    worker_busy: float | None = None
    """A shared worker's own busy share over the window (the time it did not wait for data, for any of its streams;
    None on a dedicated worker, or in its first 3 s). Near 1: the worker, and so every stream on it, falls behind,
    whatever each stream's own ``busy`` (its part of the worker's work: about 1/N or below with N streams)."""
    backlog_samples: int
    """Samples left waiting in the LSL inlet right after the last chunk was published (what arrived while the worker
    worked on it). 0 while the decoder keeps up, whatever the sender's chunk size; above 0 chunk after chunk when
    it falls behind."""
    backlog_s: float | None
    """``backlog_samples`` / ``stream.sfreq``: how far behind the decoder is, seconds."""
    backlog_max: int
    """The largest backlog after a chunk over the window."""
    held_max: int = 0
    """The most samples the inlet held at a pull over the window (the chunk pulled and what it left): near
    ``options.max_buffer_s`` × ``stream.sfreq``, its buffer was full and dropped the oldest (a buffer one pull
    empties shows it here, not in ``backlog_max``)."""
    backlog_mean: float | None
    """The mean backlog after a chunk over the window (None: no chunk)."""
    warning: str | None = None
    """Set while the decoder cannot keep up with its stream: ``busy`` (or ``worker_busy``) near 1 over the window, or
    samples lost with the backlog at ``max_buffer_s``; names the figures (busy, samples lost, the work per sample
    against the sample period) and what to do. Null once it keeps up again (also in the log and the recording's
    ``saturated`` events)."""
    latency_ms: dict[str, LatencySummary]
    """``e2e`` and ``service`` latency percentiles over the window, ms (``max`` is not tracked per window: null)."""


class StallStatus(BaseModel):
    """Why a decoder is ``stalled`` (not an error: ``last_error`` stays null)."""

    kind: str
    """``silent``: no data for ``stall_timeout_s`` (a replay that ended, a paused sender); ``lost``: liblsl lost the
    stream (a sender without source_id) and the decoder looks for it again; ``verifying``: the source came back as a
    new outlet instance that no resolve has found yet, its samples held until it is checked; ``checking``: a shared
    worker reads a returned instance's channel labels and units in a helper thread, its samples held meanwhile;
    ``opening``: a shared worker opens the inlet of its source, found again, in a helper thread."""
    reason: str
    since: float
    """``local_clock()`` (the worker host's LSL clock) when the last data arrived."""
    seconds: float
    """Seconds without data, as of the worker's latest status."""
    other_stream: str | None = None
    """The source gone (at the latest look) and another stream matching the selector: that stream (name, type,
    channels, rate, host, source_id); None otherwise. The decoder never switches to it."""
    other_fits: bool | None = None
    """Whether ``other_stream`` may fit the model (rate, format, channel count): one that cannot never ends the
    decoder, which waits for its source however long."""
    ends_at: float | None = None
    """``local_clock()`` (the worker host's) when the decoder ends in ``error`` unless its source comes back first:
    ``options.source_grace_s`` after the first look that found the source gone and ``other_stream`` fitting."""
    note: str | None = None
    """What the decoder does about ``other_stream``, in words."""
    verify_since: float | None = None
    """``local_clock()`` when the ``verifying`` wait began (None in the other kinds)."""
    check_since: float | None = None
    """``local_clock()`` when the ``checking`` read began (None in the other kinds)."""
    open_since: float | None = None
    """``local_clock()`` when the ``opening`` open began (None in the other kinds)."""


class StateChange(BaseModel):
    """Where a state change asked through the API starts (in the answer to a reset or a hot swap)."""

    kind: str
    """``reset`` or ``swap``."""
    state_epoch: int
    """The new state epoch (``counters.state_epoch``; the WebSocket rows' and the provenance stream's)."""
    first_seq: int
    """The first input sample decoded in the new state: every output with ``seq >= first_seq`` has
    ``state_epoch >= state_epoch``; the outputs before it were decoded in the state before the change."""


class DecoderStatus(BaseModel):
    """A decoder as the service sees it. Latencies are in milliseconds."""

    id: str
    state: DecoderState
    """``starting``, ``connecting``, ``running``, ``stalled``, ``error`` (final: start refused or restarts used up;
    a crashed worker waiting for its restart is ``starting``, see ``restart_in_s``), ``stopping`` (a DELETE is
    waiting for its worker to end) or ``stopped``."""
    pid: int | None
    created: float
    restarts: int
    """Worker restarts over the decoder's life (the ``max_restarts`` budget counts those since it last ran healthy
    for ``restart_reset_s``)."""
    restart_in_s: float | None = None
    """Seconds until the pending restart of its crashed worker (state ``starting``, ``last_error`` says why); None
    when no restart waits."""
    exit_code: int | None
    """How the decoder ended (None while it runs): a dedicated worker's process exit code; in a shared worker, its
    slot's (0: stopped cleanly) while the process goes on serving its other decoders (``pid`` and ``worker``), known
    once the stream has left it (a second or two after ``error`` for one refused while it started)."""
    last_error: str | None
    """Why the decoder failed or its worker crashed (a refused or changed stream, a model failure, an exit code and
    traceback); it stays after a restart. A stall is not an error: see ``stall``."""
    request: dict[str, Any]
    model: dict[str, Any] | None
    stream: dict[str, Any] | None
    output_stream: dict[str, Any] | None
    """The decoded LSL stream: ``name`` (``options.output_name``, else ``<input name>-decoded``), ``type``,
    ``source_id``, ``provenance`` (its provenance stream's name, or None), ``consumers``; ``name_shared_with`` and
    ``note`` when decoders created before this one publish a decoded stream of that name on the same host (a consumer
    resolving by name gets either: set ``options.output_name`` or resolve by ``source_id``). While the decoder holds
    its first output for a consumer (state ``connecting``; ``options.wait_for_consumer_s``, or a restarted worker's
    few seconds for its consumers to re-subscribe), ``waiting_for_consumer_s``: that wait's limit. ``nonfinite``
    (null while every output is finite): ``rows`` with a NaN or inf output, ``divergence_resets``, ``policy``
    (``options.divergence_policy``), ``first_seq``/``last_seq`` of the current episode, ``state_diverged`` and
    ``warning`` (a state that diverged, reset or kept, or a model that puts out NaN from a finite state; null after
    10 s of finite outputs)."""
    connected: bool
    """The decoder's inlet is bound to a live source: ``running``, ``stalled`` while the outlet instance it decodes
    is still up (silent; after the first source check of the stall), or ``connecting`` while it waits for a consumer
    of its output, its input buffering (``output_stream.waiting_for_consumer_s``)."""
    status_age_s: float | None = None
    """Seconds since the worker's latest status snapshot. A running worker sends one every ``status_interval``;
    one much older (``/ready`` lists it in ``decoders_unresponsive``) means the worker is hung (killed and restarted
    after the setting ``hung_kill_s``, 60 s by default)."""
    stall: StallStatus | None = None
    """While ``stalled``: why and for how long (None while data flow; kept in the final status of a decoder stopped
    while stalled)."""
    counters: dict[str, int]
    """The running worker generation's counters (they start from zero after a restart; see ``totals``)."""
    totals: dict[str, int] = {}
    """The same counters summed over every worker generation of the decoder (ended ones as of their last status
    snapshot): what was decoded, rejected and lost across restarts. ``state_epoch`` is the current one,
    ``max_chunk`` the largest; samples missed while no worker ran are in ``samples_lost`` once."""
    latency_ms: dict[str, LatencySummary]
    """Per-stage latency percentiles, cumulative since the worker started (see ``load`` for the recent ones)."""
    load: LoadStatus | None = None
    """The recent load: input rate, busy fraction, backlog and recent latency percentiles (None before decoding)."""
    last_output: list[float] | None
    last_label: str | None
    clock_offset: float | None
    clock_estimate: float | None = None
    """LSL's latest clock-offset estimate for the stream (``clock_offset`` is the line fitted to these); null while
    none came (a stream from another host whose LSL time probes get no answer: its stamps are then not mapped)."""
    clock_uncertainty: float | None = None
    clock_wait: dict[str, Any] | None = None
    """The last wait of a new outlet instance's first data (a stream from another clock that came back) for its own
    clock offset, up to 3 s, buffered: ``since`` (the worker's ``local_clock()``), ``seconds`` (null while waiting),
    ``estimate`` (false: none came, the last instance's offset stamps its first samples). Null before any."""
    record: dict[str, Any] | None = None
    state_norms: dict[str, list[float]] | None = None
    gc: dict[str, Any] | None = None
    """The worker's Python garbage collector: ``collections`` per generation (0, 1, 2). A full (generation 2)
    collection scans every object of the worker (~90k) and can stall the hot loop for tens of ms."""
    markers: dict[str, Any] | None = None
    """The marker stream followed (``options.markers``): ``state`` (``searching``, ``connected``, ``lost``,
    ``error``), ``reason`` (why ``lost``: not an error, as at the end of a replay) or ``error`` (state ``error``), the
    LSL stream (with the default selector, how it was chosen among several: ``chosen_by``, ``also_matching``,
    ``passed_over``; :mod:`~bci_stream.service.marker_choice`), ``connected_at`` (when the latest marker inlet
    opened, this host's clock: every marker pushed after it is received, one pushed before it is not), markers
    received, the last one and the ``recent`` ones (this host's clock), ``zero_is_event`` (a 0 on an irregular
    one-channel numeric stream is the marker ``"0"``: the scoring's
    marker map names ``"0"``; else it is no event), ``generation`` (the worker generation reporting them: a
    restarted worker numbers its ``recent`` markers from 0 again)."""
    scoring: dict[str, Any] | None = None
    """Live trial scoring: ``trials``, ``correct``, ``accuracy`` and its Wilson ``ci95`` at ``decision_time_s``
    after each cue, ``per_class``, the ``last`` trials, ``pending``, ``missed`` and ``interrupted`` cues (a swap,
    reset, restore or gap-policy reset between cue and decision), unmapped markers (``map_warning``: 5 or more and
    none a cue of the map, said with their values; else null);
    ``{"off": reason}`` when the model's outputs cannot be scored (after a hot swap, with the earlier models'
    ``previous`` and ``before_previous``). A reset or restore at most ``reset_grace_s``
    (``options.markers.reset_grace_s``, default 0.2 s) after a cue's first output starts the trial: scored, counted
    in ``reset_at_start`` (a trial's ``reset_after_s``).
    ``model``: the card (name@version) whose map is used; after a hot swap the scoring follows the new model and
    ``previous`` keeps the score under the model before it (``before_previous``: those under the models before that,
    oldest first). ``before_restart``: the score of each ended worker generation (a restart scores anew), as of its
    last status. ``note``: how the card's cues were read when the trainer
    read them with reader options (``[data.reader] type_state``), naming the ``bci-stream replay`` flags that send the
    same cues (a replay without them sends other markers, scored as they come), else null."""
    state_change: StateChange | None = None
    """In the answer to ``POST /decoders/{id}/reset`` and to a hot swap (``PUT /decoders/{id}/model``): the new
    state epoch and the first input sample (seq) decoded in it; None in a status."""
    worker: dict[str, Any] | None = None
    """Which worker process serves this decoder: ``kind`` (``dedicated``: a process of its own; ``shared``: one of
    the service's shared workers, ``index`` in the pool), its ``pid``, and after a shared worker's restart
    ``restored_seq`` (the input sample its restored state snapshot was taken at)."""
    placement: dict[str, Any] | None = None
    """Where its worker runs: ``backend`` (``local`` | ``ray``), ``node_id`` (Ray) and ``hostname`` of the node,
    ``worker`` (its kind and pid), and ``requested`` (``options.placement``, or null)."""
    timestamps: dict[str, Any] | None = None
    """Repair of chunk-stamped senders' timestamps (``options.timestamp_repair``): ``mode``, ``active``,
    ``detected``, ``jitter_before_ms``/``jitter_after_ms`` (std of the sample steps), ``rate_hz``, counts."""


class RecordingStatus(BaseModel):
    """A recording's state and what its file holds so far."""

    id: str
    state: Literal["searching", "recording", "stopped", "error"]
    error: str | None = Field(description="Why it ended in 'error': the message bci-stream record prints, naming "
                              "the request's fields (out, stream.type, options.markers.stream...) where it names "
                              "its flags.")
    out: str = Field(description="The file, as given (relative to recordings_dir).")
    path: str | None = Field(description="The file on the server; None when none is left (nothing was recorded).")
    stream: dict[str, str] = Field(description="The EEG stream's selector, as given.")
    stream_name: str | None = Field(description="The name of the stream recorded (None: not found yet).")
    sfreq: float | None
    marker_stream: str | None = Field(description="The marker stream's selector (LSL predicate) once the stream "
                                      "is found.")
    marker_stream_name: str | None = Field(description="The marker stream followed (None: not found yet).")
    marker_state: str = Field(description="The marker inlet's: searching, connected, lost, error ('off' before "
                              "the EEG stream is found).")
    input_unit: str
    duration_s: float | None
    samples: int
    seconds: float
    markers: int
    lost_samples: int = Field(description="Samples counted lost from the timestamps (never filled in).")
    gaps: int
    backward_steps: int
    stalled_s: float = Field(description="Seconds since the last sample, when over 2 s (else 0).")
    unrecorded_samples: int = Field(0, description="Samples received but not written to the file (a full disk, an "
                                    "I/O error, the file removed: see write_error; the file's 'unrecorded' events "
                                    "say where).")
    unrecorded_markers: int = 0
    write_error: str | None = Field(None, description="Why the file is not being written now, naming it and the "
                                    "cause (None while it is: writing resumes once it can).")
    timestamps: dict[str, Any] | None = Field(None, description="The sender's stamps, judged as a decoder's input's "
                                              "(sender_rate_hz, rate_warning, clock_warning, clock_ahead_s); None "
                                              "before the stream is found.")
    marker_counts: dict[str, int] = Field(description="Markers recorded, by value (the event names calibrate's "
                                          "--labels maps): the 50 most frequent values.")
    unlisted_marker_values: int = Field(0, description="Distinct marker values recorded beyond those marker_counts "
                                        "lists (e.g. a trial number stamped into each marker).")
    notes: list[str]
    summary: list[str] = Field(description="Once it ended: the lines bci-stream record prints at the end (naming "
                               "the request's fields where it names its flags).")
    created: float
    ended: float | None


class ServiceStatus(BaseModel):
    version: str
    uptime_s: float
    n_decoders: int
    decoders: list[DecoderStatus]
    n_recordings: int
    """Recordings with no model (``POST /recordings``) in the service's table: running ones, and ended ones until
    their ``DELETE``."""
    recordings: list[RecordingStatus]
    """Each as ``GET /recordings`` gives it, oldest first."""


class Created(BaseModel):
    id: str
    state: DecoderState
    url: str


class ReadyAnswer(BaseModel):
    """``GET /ready``: 200 when ``ready``, else 503 with the ``reasons``."""

    ready: bool
    reasons: list[str]
    """Why the service is not ready (empty when it is): no valid model in ``models_dir``, the supervisor not
    running."""
    models: int
    """Models in the registry that a decoder can run."""
    model_problems: list[str] | None
    """What is wrong with each model folder a decoder cannot run (a card unreadable, ONNX files missing or not as the
    card describes them). Null without the token when one is set (``hidden``), as the three lists below."""
    decoders: int
    decoders_in_error: list[str] | None
    """Ids of decoders in ``error`` (listed; they do not make the service unready)."""
    decoders_unresponsive: list[str] | None
    """Ids of running decoders whose worker has sent no status for max(5 s, 10 status intervals)."""
    decoders_not_started: list[str] | None = []
    """The config file's decoders (the ``decoders`` setting) refused when the service started, each with why (listed;
    they do not make the service unready: a ``POST /decoders`` still works)."""
    counts: dict[str, int] = {}
    """How many entries each of the four lists above holds (``model_problems``, ``decoders_in_error``,
    ``decoders_unresponsive``, ``decoders_not_started``), given with or without the token: what a probe alerts on."""
    hidden: str | None = None
    """Set when a token is set and the request did not give it: why the lists above are null."""
