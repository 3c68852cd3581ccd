"""Prometheus exposition of every decoder's counters, state, latency histograms, recent load and stall.

The counters and the latency histograms (cumulative fixed buckets, their ``_sum`` and ``_count``) are summed over
worker generations (``bci_stream.service.totals``): they never go back at a worker restart, so ``rate()`` and
``histogram_quantile`` over a window that holds a restart stay right (each ended generation counted as of its last
status; while a restarted worker has not reported yet, the last generation's figures stand). The load gauges (a
window of recent decoding, ``bci_stream_recent_latency_seconds`` its quantiles) belong to one worker generation: they
keep the last generation's values while the decoder is ``starting``, and are absent while a worker connects to its
stream, as before its first chunk. A latency value below zero (``e2e`` of a sample stamped ahead of this host's clock,
not measurable) is in no histogram bucket, ``_sum`` or ``_count`` (so ``_sum`` never goes back):
``bci_stream_latency_negative_observations_total`` counts those by stage.

A decoder's counters, restarts and latency histograms are exported per model it has run (label ``model``,
:mod:`bci_stream.service.model_series`): the models run before a swap keep their series, frozen, so the series of one
decoder sum to its totals; its gauges (state, status age, stall, load) are on the running model's series only.

Recordings with no model (``POST /recordings``) are exported beside the decoders (``bci_stream_recording_...``,
:class:`RecordingsCollector`) while they are in the service's table: running, or ended until their ``DELETE``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from bci_stream.api.deps import TOKEN_HELP, TOKEN_QUERY, token_ok
from bci_stream.api.boot_decoders import not_started
from bci_stream.api.error_docs import errors
from bci_stream.core.settings import Settings
from bci_stream.core.spec import GAP_THRESHOLD_S
from bci_stream.core.status import DecoderState
from bci_stream.service.caps import ClientSlots
from bci_stream.service.metrics import EDGES, quantile
from bci_stream.service.recordings import RecordingState, Recordings
from bci_stream.service.supervisor import Supervisor

router = APIRouter(tags=["metrics"])

STATES = get_args(DecoderState)
#: Counters that only grow -> Prometheus counters, exported summed over worker generations (``totals``): they
#: never go back at a worker restart.
COUNTERS = ("samples_in", "samples_out", "samples_rejected", "samples_lost", "chunks", "gaps", "gap_policy_applied",
            "nonfinite_values", "nonfinite_chunks",
            "resets", "swaps", "deadline_misses", "stalls", "resumes", "reconnects",
            "backward_steps", "provenance_replayed", "provenance_unrecoverable", "provenance_missing_rows",
            "nonfinite_outputs", "nonfinite_timestamps", "deduced_timestamps", "divergence_resets")
#: The HELP of counters that need more than their name (the others: "Decoder counter <name>, summed over ...").
COUNTER_HELP = {
    "provenance_missing_rows": "Decoded rows that may be on the decoded stream without a provenance row, an upper "
                               "bound (numbered by a worker killed before they were in its output ring; each seq range "
                               "counted once, by the next worker: status output_stream.provenance_missing), summed "
                               "over worker generations",
    "nonfinite_outputs": "Decoded rows with a NaN or inf output, published as they are (the model diverged, e.g. "
                         "from a restored state), summed over worker generations",
    "divergence_resets": "Automatic resets of a model state that diverged (NaN or inf after a step; "
                         "options.divergence_policy 'reset'), summed over worker generations",
    "nonfinite_chunks": "Pulled chunks holding at least one NaN or inf value (nonfinite_values counts the values), "
                        "summed over worker generations",
    "nonfinite_timestamps": "Input samples the sender stamped NaN or inf, each placed one period after the stamp "
                            "before it (decoded as usual), summed over worker generations",
    "deduced_timestamps": "Input samples liblsl stamped from 0 (1/sfreq, 2/sfreq, ...: a connection begun inside a "
                          "chunk the sender pushed), each stamped back from the next stamped sample at the nominal "
                          "rate, summed over worker generations",
}
#: The recent-window load figures (``bci_stream.service.liveness``) exported as gauges: (key, name, help).
LOAD_GAUGES = (
    ("busy", "busy_ratio", "Fraction of the recent window's wall time spent on the decoder's chunks (pull to publish)"),
    ("worker_busy", "worker_busy_ratio", "A shared worker's own share of the recent window spent not waiting for "
                                         "data, for all its streams (near 1: every stream on it falls behind)"),
    ("input_rate_hz", "input_rate_hz", "Samples pulled per second over the recent window"),
    ("backlog_samples", "backlog_samples", "Samples left waiting in the LSL inlet after the last chunk was published"),
    ("backlog_max", "backlog_max_samples", "The largest backlog after a chunk over the recent window"),
    ("window_s", "load_window_seconds", "The span the recent load figures cover"),
)
RECENT_QUANTILES = (0.5, 0.99)
RECORDING_STATES = get_args(RecordingState)
#: A recording's counts (its status's key, the metric's name after ``bci_stream_recording_``, its HELP): counters,
#: they only grow over a recording's life.
RECORDING_COUNTERS = (
    ("samples", "samples", "Samples of the EEG stream received: written to the recording's file, but for "
     "bci_stream_recording_unrecorded_samples"),
    ("markers", "markers", "Markers of the marker stream received: written to the recording's file, but for "
     "bci_stream_recording_unrecorded_markers"),
    # (audit s69record F2: a recording that could no longer write its file looked healthy here)
    ("unrecorded_samples", "unrecorded_samples", "Samples received but not written to the recording's file (a full "
     "disk, an I/O error, the file removed: GET /recordings' write_error says why)"),
    ("unrecorded_markers", "unrecorded_markers", "Markers received but not written to the recording's file"),
    ("lost_samples", "lost_samples", "Samples counted lost from the EEG stream's timestamps (never filled in)"),
    ("gaps", "gaps", f"Steps of the EEG stream's timestamps longer than {GAP_THRESHOLD_S:g} s (gaps)"),
    ("backward_steps", "backward_steps", "Steps back of the EEG stream's timestamps"),
)


class SupervisorCollector:
    """Reads the supervisor's latest worker snapshots at scrape time (nothing is kept twice)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        handles = self.supervisor.list()
        labels = ["decoder_id", "model"]
        state = GaugeMetricFamily("bci_stream_decoder_state", "1 for the decoder's current state",
                                  labels=[*labels, "state"])
        restarts = CounterMetricFamily("bci_stream_decoder_restarts", "Worker restarts over the decoder's life "
                                       "(after a crash, or any other end of its worker that the service restarts)",
                                       labels=labels)
        age = GaugeMetricFamily("bci_stream_status_age_seconds", "Seconds since the worker's latest status",
                                labels=labels)
        counters = {k: CounterMetricFamily(f"bci_stream_{k}", COUNTER_HELP.get(
            k, f"Decoder counter {k}, summed over worker generations"), labels=labels) for k in COUNTERS}
        hists: dict[str, HistogramMetricFamily] = {}
        negative = CounterMetricFamily("bci_stream_latency_negative_observations", "Latency values below zero (e2e of "
                                       "samples stamped ahead of this host's clock: not measurable), left out of the "
                                       "latency histograms, summed over worker generations",
                                       labels=[*labels, "stage"])
        load = {k: GaugeMetricFamily(f"bci_stream_{name}", text, labels=labels) for k, name, text in LOAD_GAUGES}
        recent = GaugeMetricFamily("bci_stream_recent_latency_seconds", "Latency quantile over the recent window "
                                   "(stages e2e and service)", labels=[*labels, "stage", "quantile"])
        stalled = GaugeMetricFamily("bci_stream_stall_seconds", "Seconds without data while stalled (0 otherwise)",
                                    labels=labels)
        recording = decoder_recording_families(labels)
        info = GaugeMetricFamily("bci_stream_decoder_model_info", "1 for the model the decoder runs now, with its "
                                 "version and the sha256 of its ONNX file (a recalibration or a swap starts a series)",
                                 labels=[*labels, "version", "sha256"])
        for h in handles:
            s = h.status
            ended = h.ended_status  # while a restarted worker has no figures yet: the last generation's (see module)
            s_load = ended.load if s.load is None and ended is not None and s.state == "starting" else s.load
            # summed over generations; else (no snapshot brought histograms to the totals) this generation's
            s_hist = h.counted.latency() or (s.hist if s.hist or ended is None else ended.hist)
            # the model's name (never name@version: a swap's spec says B@1 while its status says B); every model the
            # decoder ran has its series, the running one's counting from its swap (model_series)
            label, runs = h.series.every((s.model or {}).get("name") or h.spec.model.partition("@")[0], h.totals(),
                                         s_hist, h.restarts)
            lv = [h.id, label]
            for st in STATES:  # the gauges: of what runs now, on its series only
                state.add_metric([*lv, st], 1.0 if s.state == st else 0.0)
            if (m := s.model or {}).get("version") and m.get("sha256"):  # which exact model (audit s46)
                info.add_metric([*lv, str(m["version"]), str(m["sha256"])], 1.0)
            if (seconds := h.status_age()) is not None:
                age.add_metric(lv, seconds)
            stalled.add_metric(lv, float(s.stall["seconds"]) if s.state == "stalled" and s.stall else 0.0)
            record = s.record if s.record is not None or ended is None or s.state != "starting" else ended.record
            if record is not None:  # a decoder with record_path: its recording's failure (a full disk) is seen
                recording["ok"].add_metric(lv, 0.0 if record.get("error") else 1.0)
                recording["samples"].add_metric(lv, float(record.get("unrecorded_samples", 0)))
                recording["markers"].add_metric(lv, float(record.get("unrecorded_markers", 0)))
            if s_load is not None:
                for k, fam in load.items():
                    if s_load.get(k) is not None:
                        fam.add_metric(lv, float(s_load[k]))
                for stage, hist in s_load["hist"].items():
                    for q in RECENT_QUANTILES:
                        if (v := quantile(hist, q * 100)) is not None:
                            recent.add_metric([*lv, stage, f"{q:g}"], v)
            for model, run in runs.items():  # the counters and histograms: every model's (the earlier ones frozen)
                mv = [h.id, model]
                restarts.add_metric(mv, run.restarts)
                for k, fam in counters.items():
                    fam.add_metric(mv, float(getattr(run.counters, k)))
                for stage, hist in run.hist.items():
                    fam = hists.setdefault(stage, HistogramMetricFamily(
                        f"bci_stream_latency_{stage}_seconds", f"Latency of stage {stage} (seconds), summed over "
                        "worker generations", labels=labels))
                    cum, buckets = 0, []
                    for edge, count in zip(EDGES, hist["counts"]):
                        cum += count
                        buckets.append((repr(float(edge)), float(cum)))
                    buckets.append(("+Inf", float(hist["n"])))
                    fam.add_metric(mv, buckets, sum_value=hist["sum"])
                    negative.add_metric([*mv, stage], float(hist.get("n_negative", 0)))
        yield state
        yield info
        yield restarts
        yield age
        yield from counters.values()
        yield from hists.values()
        yield negative
        yield from load.values()
        yield recent
        yield stalled
        yield from recording.values()


def decoder_recording_families(labels: list[str]) -> dict[str, Metric]:
    """The series of a decoder's own recording (option ``record_path``), on decoders that record. Before, its failure
    (a full disk: the decoder decodes on, the data is counted, not written) showed only in ``GET /decoders/{id}``
    (``record.error``, ``unrecorded_samples``) and one WARNING line: no alert rule could catch it."""
    gen = "counted by the current worker generation's file (from 0 again after a worker restart)"
    return {
        "ok": GaugeMetricFamily("bci_stream_decoder_recording_ok", "1 while the decoder's recording (record_path) "
                                "is written, 0 while it cannot be (record.error: e.g. a full disk)", labels=labels),
        "samples": CounterMetricFamily("bci_stream_decoder_unrecorded_samples", "Input samples the decoder received "
                                       f"but could not write to its recording (record_path), {gen}", labels=labels),
        "markers": CounterMetricFamily("bci_stream_decoder_unrecorded_markers", "Markers the decoder could not write "
                                       f"to its recording (record_path), {gen}", labels=labels),
    }


class RecordingsCollector:
    """Reads every recording's status (as ``GET /recordings`` gives it) at scrape time. Labels ``recording_id`` and
    ``stream``: the EEG stream's name once found (before: the name asked for, else its selector as an LSL predicate;
    no sample is counted then)."""

    def __init__(self, recordings: Recordings) -> None:
        self.recordings = recordings

    def collect(self) -> Iterator[Metric]:
        labels = ["recording_id", "stream"]
        state = GaugeMetricFamily("bci_stream_recording_state", "1 for the recording's current state (searching, "
                                  "recording, stopped, error)", labels=[*labels, "state"])
        counters = {key: CounterMetricFamily(f"bci_stream_recording_{name}", text, labels=labels)
                    for key, name, text in RECORDING_COUNTERS}
        stalled = GaugeMetricFamily("bci_stream_recording_stalled_seconds", "Seconds since the recording's last "
                                    "sample, when over 2 s (0 while samples come)", labels=labels)
        failing = GaugeMetricFamily("bci_stream_recording_write_failing", "1 while the recording cannot write its "
                                    "file (write_error), else 0", labels=labels)
        for recording in self.recordings.list():
            view = recording.view()
            lv = [view["id"], recording.rec.name]
            for st in RECORDING_STATES:
                state.add_metric([*lv, st], 1.0 if view["state"] == st else 0.0)
            for key, fam in counters.items():
                fam.add_metric(lv, float(view[key]))
            stalled.add_metric(lv, float(view["stalled_s"]))
            failing.add_metric(lv, 0.0 if view["write_error"] is None else 1.0)
        yield state
        yield from counters.values()
        yield stalled
        yield failing


class NotStartedCollector:
    """How many of the config file's decoders (the ``decoders`` setting) were refused when the service started (``GET
    /ready``'s ``decoders_not_started`` says which and why)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("bci_stream_configured_decoders_not_started", "Decoders of the config file's "
                                "decoders setting refused when the service started (GET /ready says why)",
                                value=float(self.count))


class CapsCollector:
    """Each cap on what token holders may start (:mod:`~bci_stream.service.caps`) and how much of it is taken now, so
    that an alert can fire before a start is refused (429) or a WebSocket client closed (1013)."""

    def __init__(self, settings: Settings, supervisor: Supervisor, recordings: Recordings,
                 ws_slots: ClientSlots) -> None:
        self.taken = (("max_decoders", settings.max_decoders, lambda: len(supervisor.list())),
                      ("max_recordings", settings.max_recordings, recordings.running),
                      ("max_ws_clients", ws_slots.cap, lambda: ws_slots.open))

    def collect(self) -> Iterator[Metric]:
        limit = GaugeMetricFamily("bci_stream_cap_limit", "A cap of the service's settings on what may run at once "
                                  "(decoders listed, recordings running, WebSocket output clients)", labels=["cap"])
        used = GaugeMetricFamily("bci_stream_cap_used", "How much of that cap is taken now (a start past it is "
                                 "refused: 429, or WebSocket close 1013)", labels=["cap"])
        for cap, value, taken in self.taken:
            limit.add_metric([cap], float(value))
            used.add_metric([cap], float(taken()))
        yield limit
        yield used


@router.get("/metrics", response_class=PlainTextResponse,
            responses={200: {"description": "The Prometheus text exposition format (version 0.0.4).",
                             "content": {"text/plain": {"schema": {"type": "string"}}}},
                       **errors(401)})
def metrics(request: Request) -> Response:
    """Prometheus text exposition (scrape it). No token needed, unless the ``metrics_token`` setting is true: then
    the service's token as on every other route (401 without it)."""
    settings = request.app.state.settings
    if settings.metrics_token and not token_ok(settings, request.headers.get("authorization"),
                                               request.query_params.get(TOKEN_QUERY)):
        raise HTTPException(status_code=401, detail=TOKEN_HELP, headers={"WWW-Authenticate": "Bearer"})
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SupervisorCollector(request.app.state.supervisor))
    registry.register(RecordingsCollector(request.app.state.recordings))
    registry.register(NotStartedCollector(len(not_started(request.app.state))))
    state = request.app.state
    registry.register(CapsCollector(settings, state.supervisor, state.recordings, state.ws_slots))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
