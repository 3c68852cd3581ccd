"""The supervisor's view of one decoder (:class:`DecoderHandle`): what a backend starts and the API reports."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from bci_stream.core.spec import DecoderSpec
from bci_stream.core.status import Counters, WorkerStatus
from bci_stream.service.pool_messages import SavedState
from bci_stream.service.ring import OutputRing
from bci_stream.service.model_series import ModelSeries
from bci_stream.service.scoring_swap import PREVIOUS_KEYS
from bci_stream.service.totals import GenerationTotals

#: Ended worker generations whose live score ``scoring.before_restart`` keeps (the oldest beyond them forgotten).
MAX_SCORES_BEFORE_RESTART = 16
#: ``scoring.off`` of a restarted worker that has no score yet (or never will: its stream gone), the ended
#: generations' scores beside it
NOT_SCORING_YET = ("this worker generation has no live score (yet: a restarted worker scores once it follows the "
                   "markers); the ended generations' scores are in before_restart")


@dataclass
class DecoderHandle:
    """The supervisor's view of one decoder: its spec, current process and latest status."""

    id: str
    spec: DecoderSpec
    created: float = field(default_factory=time.time)
    generation: int = 0
    process: Any = None
    cmd_conn: Any = None
    status: WorkerStatus = field(default_factory=WorkerStatus)
    restarts: int = 0  # over its lifetime (status, metrics)
    recent_restarts: int = 0  # since a generation last ran healthy: the budget and backoff (restart_policy)
    load_failures: int = 0  # its workers' exits in a row for a model they could not load now (EXIT_UNAVAILABLE)
    running_since: float | None = None  # time.monotonic() when the current generation first reported connecting/running
    ended_status: WorkerStatus | None = None  # the previous generation's last status (/metrics while one starts)
    exit_code: int | None = None
    #: the generation whose exit was judged, the backend's word on it (not a refusal), the last_error judged from it
    #: and what the crash policy added (``; not restarted: ...``, or ""): a late snapshot of that generation joins its
    #: word to that message
    ended: tuple[int, str, str, str] | None = None
    restart_at: float | None = None
    #: the generation whose worker the supervisor killed as hung (no status for ``hung_kill_s``) and why
    silenced: tuple[int, str] | None = None
    stopping: bool = False
    last_error: str | None = None
    ring: OutputRing | None = None
    status_conn: Any = None
    request_lock: threading.Lock = field(default_factory=threading.Lock)
    #: other streams its selector matches (:mod:`~bci_stream.service.selector_matches`): what was judged (the uid
    #: decoded, its rate, the number of channels read), the others
    also_matching: tuple[tuple[str, float, int], list[str]] | None = None
    next_request: int = 0
    worker: dict[str, Any] | None = None  # which worker process serves it (kind, index, pid)
    slot_exit: int | None = None  # shared: the code its stream left the worker with (StreamEnded)
    saved: SavedState | None = None  # shared or ray: its last state snapshot (restored after a worker crash)
    pinned: tuple[str, str] | None = None  # ref and sha256 of the model its workers run (its own copy: model_pin)
    #: sha256 and status pin fields (``pinned``, ``registry_now``) of the model a hot swap put in (requests.follow_swap)
    swap_pin: tuple[str, dict[str, Any]] | None = None
    backend: str = "local"
    placement: dict[str, Any] | None = None  # where it runs: backend, node_id, hostname, worker, requested
    status_received: float | None = None  # time.monotonic() of its worker's latest status snapshot
    counted: GenerationTotals = field(default_factory=GenerationTotals)  # counters, histograms over generations
    series: ModelSeries = field(default_factory=ModelSeries)  # the same per model it ran (/metrics' model label)
    #: the live score of each ended worker generation, as of its last status (status ``scoring.before_restart``)
    scores_before_restart: list[dict[str, Any]] = field(default_factory=list)
    last_score: tuple[int, dict[str, Any]] | None = None  # the latest generation's latest score that had any

    def take_status(self, generation: int, snapshot: WorkerStatus) -> None:
        """A status snapshot from worker ``generation`` (the current one): the latest status, its counters and latency
        histograms summed with those of the ended generations (:meth:`totals`, ``counted.latency()``), and its
        live score with those of the ended generations beside it (:meth:`_with_earlier_scores`)."""
        snapshot = self._with_earlier_scores(generation, snapshot)
        self.counted.take(generation, snapshot.counters, snapshot.hist)  # first: one without them leaves the status be
        if self.counted.generation == generation:  # never older than a command's answer taken meanwhile
            snapshot = replace(snapshot, counters=self.counted.latest)
        if self.stopping:  # a stop (DELETE) is waiting for the worker: ``stopping`` until it is done (``stopped``)
            snapshot = replace(snapshot, state="stopping")
        self.status, self.status_received = snapshot, time.monotonic()

    def _with_earlier_scores(self, generation: int, snapshot: WorkerStatus) -> WorkerStatus:
        """``snapshot`` with ``scoring.before_restart``: a restarted worker scores anew, so the score of each ended
        generation (the last one it reported) is kept beside the new one, never lost from the status. Taken when
        the first snapshot of a newer generation comes, or its worker is attached (a generation that reported no
        score adds none)."""
        self._end_scores_before(generation)
        scoring = snapshot.scoring
        if isinstance(scoring, dict) and (scoring.get("previous") or "off" not in scoring and (  # off: a swap's
                scoring.get("trials") or scoring.get("markers_received"))):  # model, the earlier ones' scores kept
            self.last_score = (generation, scoring)
        return replace(snapshot, scoring=self.with_before_restart(scoring)) if self.scores_before_restart else snapshot

    def new_generation_status(self, status: WorkerStatus) -> WorkerStatus:
        """``status``, the fresh one of a worker just attached (generation :attr:`generation`), with the ended
        generations' scores: before, they left the status until the new worker scored, and for good when it never
        did (its stream gone, an ``error``)."""
        self._end_scores_before(self.generation)
        return replace(status, scoring=self.with_before_restart(status.scoring)) if self.scores_before_restart \
            else status

    def _end_scores_before(self, generation: int) -> None:
        """The last score of a generation older than ``generation`` joins the ended generations' scores."""
        last = self.last_score
        if last is not None and generation > last[0]:
            kept = {k: last[1].get(k) for k in (*PREVIOUS_KEYS, "pending", "previous", "before_previous", "off")}
            self.scores_before_restart = [*self.scores_before_restart, {**kept, "generation": last[0]}]
            self.scores_before_restart = self.scores_before_restart[-MAX_SCORES_BEFORE_RESTART:]
            self.last_score = None

    def with_before_restart(self, scoring: dict[str, Any] | None) -> dict[str, Any]:
        """``scoring`` with ``before_restart``; none (a worker not following its markers yet, or never) is ``off``."""
        if not isinstance(scoring, dict):
            scoring = {"off": NOT_SCORING_YET}
        return {**scoring, "before_restart": self.scores_before_restart}

    def take_answer(self, generation: int, counters: Counters) -> None:
        """A command's answer's counters (a reset's, a swap's, a state restore's), newer than the last snapshot: in
        the status and totals from now on (a GET right after the answer showed older ones; a kill before the next
        snapshot left that reset or swap out of ``totals``)."""
        self.counted.take(generation, counters)
        if self.counted.generation == generation:
            self.status = replace(self.status, counters=self.counted.latest)

    def totals(self, latest: Counters | None = None) -> Counters:
        """Its counters summed over every worker generation (the running one's as of its latest snapshot, or
        ``latest``: its counters in a command's answer); ``state_epoch`` is the latest, ``max_chunk`` the largest."""
        return self.counted.totals(latest)

    def restart_in(self) -> float | None:
        """Seconds until its pending restart (a crashed worker waiting for its backoff), or None."""
        return None if self.restart_at is None else max(0.0, round(self.restart_at - time.monotonic(), 3))

    def status_age(self) -> float | None:
        """Seconds since its worker's latest status snapshot (a worker sends one every status interval)."""
        return None if self.status_received is None else time.monotonic() - self.status_received

    @property
    def hung_why(self) -> str | None:
        """Why the supervisor killed the current generation's worker as hung (:attr:`silenced`), None if it did not."""
        return self.silenced[1] if self.silenced is not None and self.silenced[0] == self.generation else None

    @property
    def shared(self) -> bool:  # in the local shared pool (a ray decoder has an actor of its own)
        return self.spec.options.worker == "shared" and self.backend == "local"


def about_decoder(handle: DecoderHandle) -> str:
    """A decoder's stream selector as given (``name='EEG', type='EEG'``), for its log lines."""
    return ", ".join(f"{k}={v!r}" for k, v in handle.spec.stream.model_dump(exclude_none=True).items())


def worker_text(handle: DecoderHandle) -> str:
    """Its worker for a log line: ``shared[0] (pid 123)``, ``dedicated (pid 124)``, ``ray (pid 125)``, or the kind
    asked for (``ray`` under Ray, which has no other)."""
    w = handle.worker or {"kind": "ray" if handle.backend == "ray" else handle.spec.options.worker}
    index = f"[{w['index']}]" if w.get("index") is not None else ""
    return f"{w.get('kind')}{index}" + (f" (pid {w['pid']})" if w.get("pid") else "")

