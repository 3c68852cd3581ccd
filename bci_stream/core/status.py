"""What a worker reports about one decoded stream: typed, shared by the worker and the API.

The worker sends a :class:`WorkerStatus` snapshot (a copy) over its status pipe every
``status_interval`` seconds and on every state change; the API reads its fields.

Sample accounting: every pulled sample is decoded and published (``samples_out``) or, with
``nan_policy="reject"``, rejected (``samples_rejected``); ``samples_in == samples_out + samples_rejected``
after every chunk. Samples that never reached the worker show as timestamp gaps and are estimated in
``samples_lost``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

#: ``stopping``: the supervisor's, while a stop (``DELETE``) waits for the worker to end; never a worker's own
DecoderState = Literal["starting", "connecting", "running", "stalled", "error", "stopping", "stopped"]


@dataclass
class Counters:
    """Sample and event accounting (see the module docstring for the invariant)."""

    samples_in: int = 0
    samples_out: int = 0
    samples_rejected: int = 0
    samples_lost: int = 0
    chunks: int = 0
    max_chunk: int = 0
    gaps: int = 0
    gap_policy_applied: int = 0
    nonfinite_values: int = 0
    nonfinite_chunks: int = 0
    resets: int = 0
    swaps: int = 0
    state_epoch: int = 0
    deadline_misses: int = 0
    stalls: int = 0
    resumes: int = 0
    reconnects: int = 0
    backward_steps: int = 0  # timestamp steps < 0 (the sender's clock went back); those samples are decoded
    nonfinite_timestamps: int = 0  # samples stamped NaN or inf by the sender: placed one period after the one before
    #: samples liblsl stamped from 0 (a connection begun inside a pushed chunk): stamped back from the next stamped one
    deduced_timestamps: int = 0
    provenance_replayed: int = 0  # provenance rows a restarted worker sent late (its last generation's unsent)
    provenance_unrecoverable: int = 0  # provenance rows of published outputs that could not be sent (ring lapped)
    #: decoded rows whose provenance may be missing, an upper bound: numbered by a killed worker, never in its output
    #: ring (``output_stream.provenance_missing``, counted by the generation that reported the range, once)
    provenance_missing_rows: int = 0
    #: decoded rows with a NaN or inf output (published as they are: e.g. a restored state the model diverges from)
    nonfinite_outputs: int = 0
    #: automatic resets of a state that diverged (NaN or inf after a step; ``options.divergence_policy`` 'reset')
    divergence_resets: int = 0


@dataclass
class WorkerStatus:
    """The state of one decoder as its worker sees it.

    Attributes
    ----------
    stream, output_stream, model, record
        Descriptions of the input stream, the decoded outlets, the running model and the recording. ``stream``'s
        ``owed_after``: until the first output, the input stamp after which samples are owed (a restart's gap).
    hist
        Per-stage latency histograms (``LatencyHistogram.to_dict()``), by stage name.
    markers
        The marker stream followed (``state``: ``off``/``searching``/``connected``/``lost``/``error``, the stream,
        counts, clock offset) and its ``recent`` markers ``[index, value, timestamp]`` (this host's clock).
    scoring
        Live trial scoring against the markers: marker map, decision time, correct/trials, accuracy with its
        Wilson 95 % interval, per class, the last trials, pending cues, unmapped markers.
    timestamps
        Timestamp repair of chunk-stamped (stair-case) senders (``bci_stream.lsl.dejitter``): ``mode``,
        ``active``, ``detected``, ``short_step_fraction``, ``samples_per_stamp``, ``jitter_before_ms`` and
        ``jitter_after_ms`` (std of the sample steps), ``rate_hz`` (fitted), ``samples_repaired``,
        ``chunks_repaired``, ``restarts`` (at gaps and clock steps), ``activations``.
    state_norms
        Per-layer norms of the recurrent state (a cheap look at what the network carries).
    worker
        Which worker process serves the stream: ``kind`` (``dedicated`` | ``shared``), ``index`` (shared pool),
        ``pid``, and after a worker restart ``restored_seq`` (the input sample its restored state was saved at).
    load
        The recent load (``bci_stream.service.liveness``): over the last ``window_s`` (~10 s, sliding in 1 s
        steps) ``input_rate_hz``, ``chunk_rate_hz``, ``busy`` (fraction of wall time spent on this stream's
        chunks), ``backlog_samples``/``backlog_s`` (samples left waiting in the inlet after the last chunk),
        ``backlog_max``, ``backlog_mean``, and the ``hist`` of ``e2e`` and ``service`` latencies; None before
        decoding starts.
    stall
        Why the stream is ``stalled`` (``bci_stream.service.stalls``): ``kind`` (``silent`` | ``lost`` |
        ``verifying``: the source came back as a new outlet instance no resolve found yet, its samples held until
        it is checked, ``verify_since`` saying since when; ``checking``: a shared worker reads the new instance's
        full info in a helper thread, ``check_since``; ``bci_stream.service.return_check``; ``opening``: a shared
        worker opens the inlet of its source, found again, in a helper thread, ``open_since``;
        ``bci_stream.service.reopen``), ``reason``,
        ``since`` (``local_clock()`` of the last data) and ``seconds`` silent; None while data flow.
        While the source is gone and another stream matches the selector (``SourceMonitor.other``): that stream
        (``other_stream``), whether it may fit the model (``other_fits``), ``ends_at`` (``local_clock()``: the end of
        ``options.source_grace_s``, None if it cannot fit: no end) and a ``note``; all None otherwise.
        Kept in the final status of a decoder stopped while stalled; None in state ``error`` (the error says what
        happened; ``/metrics`` ``bci_stream_stall_seconds`` is 0 then too). A stall is not an error: ``error``
        stays None.
    clock_wait
        The last wait of a new outlet instance's first data (a stream from another clock that came back) for that
        instance's own clock offset (up to 3 s from when the instance passed its check, the inlet buffering: none of
        it is decoded meanwhile; ``bci_stream.service.stalls``): ``since`` (``local_clock()``), ``seconds`` (None while
        waiting), ``estimate`` (True: one came; False: the deadline ended the wait, the last instance's offset used),
        and ``offset_from`` ``"arrival"`` when that offset (or its own estimate) put the instance's first chunk more
        than 1 s ahead of its arrival or 10 s behind, where the last instance's fitted theirs so: stamped by that
        arrival until an estimate puts its latest chunk within those bounds. None before any.
    source_present
        While stalled: whether the outlet instance being decoded is still up, silent (the source check's last
        look; None before the first, False once the stream is lost). The API's ``connected`` is ``running``, or
        ``stalled`` with this True.
    t
        ``local_clock()`` when the snapshot was taken.
    """

    state: DecoderState = "starting"
    error: str | None = None
    """Why the decoder failed (refused stream or model, crash); None otherwise (a stall is no error)."""
    pid: int | None = None
    counters: Counters = field(default_factory=Counters)
    stream: dict[str, Any] | None = None
    output_stream: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    last_output: list[float] | None = None
    last_timestamp: float | None = None
    clock_offset: float = 0.0
    clock_estimate: float = 0.0
    clock_uncertainty: float | None = None
    clock_wait: dict[str, Any] | None = None
    record: dict[str, Any] | None = None
    state_norms: dict[str, list[float]] | None = None
    hist: dict[str, dict[str, Any]] = field(default_factory=dict)
    gc: dict[str, Any] | None = None
    markers: dict[str, Any] | None = None
    scoring: dict[str, Any] | None = None
    timestamps: dict[str, Any] | None = None
    worker: dict[str, Any] | None = None
    source_present: bool | None = None
    load: dict[str, Any] | None = None
    stall: dict[str, Any] | None = None
    t: float = 0.0

    def snapshot(self) -> WorkerStatus:
        """A deep copy, safe to hand to another thread or process."""
        return copy.deepcopy(self)

    @property
    def labels(self) -> list[str] | None:
        return None if self.model is None else self.model.get("labels")
