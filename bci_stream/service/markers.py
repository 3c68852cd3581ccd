"""Following a marker stream beside the decoded one: cues into the recording, to WebSocket clients, and scored.

A :class:`MarkerFollower` thread resolves the marker stream (``options.markers.stream``, or by default
``<input name>-markers`` / ``<input name>-annotations`` on the input's host: of several, this input's by source_id,
:mod:`~bci_stream.service.marker_choice`), opens an inlet, pulls markers
and keeps their clock offset; everything it finds goes into a deque. The worker's hot loop never waits for
it: :class:`MarkerHub` drains the deque in the worker's periodic tick (records the markers, feeds the
:class:`~bci_stream.service.scoring.LiveScorer`, updates status) and only hands each decoded chunk to the
scorer. A marker stream that never appears, vanishes or breaks is reported in status (``markers.state``),
never fatal: the thread looks for it again. While it searches, a liblsl continuous resolver asks the network about
once a second in the background, so a marker stream that appears later (a stimulus program started after the
decoder) is followed within about a second of its appearance. A marker stream that goes away (``lost``, as at
the end of every replay) is no error: ``reason`` says so and ``error`` stays None; ``error`` is for a stream that
broke the follower (state ``error``; it looks again after :data:`ERROR_WAIT_S`).

The scorer is given every decoded chunk from the decoder's first output on, the marker stream connected or not: a
cue is decided at its own timestamp, and its marker often arrives after the samples it cues were decoded (the
follower opens its inlet, reads the clock offset and is drained by the worker's next tick some 0.7 s after the data
started; ``replay --wait-for-consumer`` holds its first markers until then; a sender may push late); the scorer's
bounded history holds those outputs. A marker pushed before the follower's inlet opened (status
``markers.connected_at``, this host's clock) is never received by it: an LSL inlet gets only the samples pushed after
it subscribed, so a stimulus program that must not lose its first cue waits for a consumer of its marker outlet
(pylsl ``StreamOutlet.wait_for_consumers``) before pushing it; what is pushed once the inlet opened, while the
follower still reads the clock offset, waits in the inlet and is pulled. After a restart, those of the window no
follower covered come from the supervisor's witness (:mod:`~bci_stream.service.marker_witness`,
:meth:`MarkerHub.recover`) when it received them.

Marker values are read by :mod:`bci_stream.io.marker_codes`'s rules (as the XDF reader reads a file's): a string
stream gives its first channel (empty: none; UTF-8, else Latin-1: :func:`marker_text`); a numeric one with several
labelled channels (mne-lsl's ``PlayerLSL`` annotations) the label of each non-zero channel; a one-channel numeric one
the number as text, with a rate only where its level changes to a non-zero one (a trigger channel); an irregular one
its 0s too only when the decoder's scoring map names ``"0"`` (status ``markers.zero_is_event``). In raw mode
(``MarkerFollower(raw=True)``, ``bci-stream record``: a file keeps every marker) an irregular one-channel numeric
stream gives every number, ``"0"`` and ``"nan"`` included, and a string stream its first channel and then each other
channel's non-empty value as a marker of its own, at the same timestamp.

The supervisor's witness (:mod:`~bci_stream.service.marker_witness`: one follower per stream, whatever the maps of
the decoders that follow it) keeps the 0s of an irregular one-channel numeric stream; :meth:`MarkerHub.recover`
drops them for a decoder whose map does not name ``"0"``, so a recovered window holds what its own follower gives.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterable
from typing import Any

import pylsl
from pylsl.util import LostError

from bci_stream.core.card import ModelCard
from bci_stream.core.spec import MarkerOptions
from bci_stream.io.marker_codes import ZERO, TriggerEdges, marker_text, marker_values, zero_is_event  # XDF's too
from bci_stream.lsl.info import read_ch_names
from bci_stream.lsl.source import NUMERIC_FORMATS, OTHER_FORMATS, ClockOffset, TimeCorrection, unmapped_warning
from bci_stream.service.marker_stamps import MarkerStamps
from bci_stream.service.marker_choice import MarkerChoice, marker_predicate, own_input_reason, too_wide  # (re-exported)
from bci_stream.service.scoring import LiveScorer
from bci_stream.service.scoring_swap import NOTHING_KEPT, Kept, ScorerSetup, follow_swap, make_scorer

FORMATS = {**NUMERIC_FORMATS, **OTHER_FORMATS}  #: LSL's format names (a recording's marker header)

log = logging.getLogger("bci_stream.markers")

RECENT = 64  #: markers kept in status for WebSocket clients
CLOCK_UPDATE_S = 5.0
SEARCH_POLL_S = 0.25  #: how often a search reads its resolver's results (and the stop flag), s
REGULAR_POLL_S = 0.01  #: how often a trigger channel (a regular-rate marker stream) is pulled, s
FORGET_S = 5.0  #: the continuous resolver's ``forget_after`` (a search's resolver is new: it holds no gone stream)
#: The marker inlet's buffer, s: liblsl holds ``max_buflen × rate`` samples (``× 100`` irregular), the oldest dropped
#: beyond: 600 s holds a burst of 60,000 markers (a task's schedule); 30 s of a trigger channel with a rate is ample.
BUFLEN_IRREGULAR_S, BUFLEN_REGULAR_S = 600, 30
ERROR_WAIT_S = 5.0  #: the wait before looking again after the marker stream broke the follower (state ``error``)


class MarkerFollower(threading.Thread):
    """Resolve, open and pull a marker stream on its own thread; items go to :attr:`queue`.

    Items: ``("connect", stream_dict, offset)``, ``("marker", value, source_timestamp, offset)``,
    ``("offset", collection_time, offset)``, ``("lost", message)``.
    """

    def __init__(self, predicate: str, time_correction: TimeCorrection, max_queued: int | None = None,
                 raw: bool = False, zero: bool = False, choice: MarkerChoice | None = None) -> None:
        super().__init__(name="bci-stream-markers", daemon=True)
        self.predicate = predicate
        self.choice = choice  # the default selector's rule among several matches (None: an explicit one's first)
        self._chosen: dict[str, Any] = {}  # how the stream being followed was chosen (its ``stream``'s fields)
        self.raw = raw  # every marker as received (marker_values' raw): a recording's, never a decoder's
        self.zero = zero  # an irregular one-channel numeric 0 is the marker "0" (zero_is_event; the witness's too)
        self.time_correction = time_correction
        self.queue: collections.deque = collections.deque(maxlen=max_queued)  # bounded: the oldest items go first
        self.state = "searching"
        self.error: str | None = None
        self.reason: str | None = None  # why it is lost (no error)
        self._stop_flag = threading.Event()
        self._inlet: pylsl.StreamInlet | None = None

    def stop(self, timeout: float = 3.0) -> None:
        self._stop_flag.set()
        self.join(timeout)

    def run(self) -> None:
        while not self._stop_flag.is_set():
            try:
                if self._inlet is None and (info := self._search()) is not None:
                    self._follow(info)
            except LostError:
                self._drop("lost", f"marker stream lost; looking for {self.predicate} again")
            except Exception as exc:  # noqa: BLE001 - reported in status; the thread carries on
                log.warning("marker stream: %s", exc)
                self._drop("error", f"marker stream failed: {type(exc).__name__}: {exc}")
                self._stop_flag.wait(ERROR_WAIT_S)
        if self._inlet is not None:
            self._inlet.close_stream()
            self._inlet = None  # freed now (its liblsl threads and descriptors), not at a rare full collection

    def _search(self) -> pylsl.StreamInfo | None:
        """The first stream matching the predicate (by :attr:`choice`'s rule: :meth:`.MarkerChoice.ready` says
        when); None when stopped first.

        A continuous resolver (new for each search, so that it knows no stream that went before it started) asks
        the network in the background about once a second and answers at once for a stream already up; this thread
        only reads its results every :data:`SEARCH_POLL_S`, so a stop is seen within that time.
        """
        pred = self.predicate if (choice := self.choice) is None else choice.resolver_predicate(self.predicate)
        resolver = pylsl.ContinuousResolver(pred=pred, forget_after=FORGET_S)
        first_seen: float | None = None
        while True:
            if (found := resolver.results()) and choice is None:
                return found[0]
            elif found and choice is not None and (chosen := choice.choose(found)).candidates:
                first_seen = pylsl.local_clock() if first_seen is None else first_seen
                if choice.ready(chosen, pylsl.local_clock() - first_seen):
                    self._chosen = chosen.report()
                    choice.warn(chosen, self.predicate)  # several left by the rule: the first found, logged
                    return chosen.info
                if chosen.info is None:
                    self.reason = f"only other inputs' marker streams found ({'; '.join(chosen.passed_over)})"
            if self._stop_flag.wait(SEARCH_POLL_S):
                return None

    def _drop(self, state: str, message: str) -> None:
        """The inlet goes; ``state`` ``lost`` (``reason``: message) or ``error`` (``error``: message)."""
        if self._inlet is not None:
            self._inlet.close_stream()
            self._inlet = None
        self.state = state
        self.error, self.reason = (message, None) if state == "error" else (None, message)
        self.queue.append(("lost", message))

    def _follow(self, info: pylsl.StreamInfo) -> None:
        """Open an inlet on ``info`` (refused first if too wide for a marker stream: :func:`.too_wide`) and pull from
        it until stopped (LostError when the stream goes)."""
        if (why := too_wide(info)) is not None:
            raise ValueError(why)
        buflen = BUFLEN_IRREGULAR_S if info.nominal_srate() == 0 else BUFLEN_REGULAR_S
        # a string stream's markers as sent (bytes): marker_text (pylsl's strict UTF-8 decode failed on a Latin-1
        # marker, the inlet dropped for 5 s and the cues sent meanwhile lost: audit s70score F2)
        inlet = pylsl.StreamInlet(info, max_buflen=buflen, recover=False,
                                  as_numpy=info.channel_format() == pylsl.cf_string)
        self._inlet = inlet
        full = inlet.info(timeout=5.0)
        is_string = full.channel_format() == pylsl.cf_string
        labels = read_ch_names(full)
        regular = full.nominal_srate() > 0  # numeric levels held at a rate: a marker where one changes to an event
        edges = TriggerEdges(labels, full.nominal_srate()) if regular and not is_string else None
        clock = ClockOffset.for_stream(full, self.time_correction)
        inlet.open_stream(timeout=5.0)
        opened = pylsl.local_clock()  # markers pushed from now on are received
        clock.update(inlet, 2.0)
        if clock.unmapped:
            log.warning("marker %s", unmapped_warning(full, 2.0))
        stream = {"name": full.name(), "type": full.type(), "source_id": full.source_id(),
                  "hostname": full.hostname(), "uid": full.uid(), "n_chans": full.channel_count(),
                  "channel_format": "string" if is_string else "numeric", "ch_names": labels,
                  "format": FORMATS.get(full.channel_format(), ""), "nominal_srate": full.nominal_srate(),
                  **self._chosen}
        self.queue.append(("connect", stream, clock.offset, opened))
        self.state, self.error, self.reason = "connected", None, None
        next_clock = pylsl.local_clock() + CLOCK_UPDATE_S
        while not self._stop_flag.is_set():
            if regular:  # a trigger channel (samples at its rate): what came, every REGULAR_POLL_S
                if self._stop_flag.wait(REGULAR_POLL_S):  # (woken by each sample, the thread took the GIL 1000
                    break                                 # times a second from the decoding of a 1 kHz trigger)
                samples, stamps = inlet.pull_chunk(timeout=0.0, max_samples=1024)
            else:  # woken by the first marker (pull_chunk with a timeout waits for a full buffer: each marker then
                first, t_first = inlet.pull_sample(timeout=0.2)  # waited up to 0.2 s here), then what came with it
                samples, stamps = ([first], [t_first]) if t_first is not None else ([], [])
                if t_first is not None and len((more := inlet.pull_chunk(timeout=0.0, max_samples=1024))[1]):
                    samples, stamps = samples + list(more[0]), stamps + list(more[1])
            if is_string:  # (as sent: bytes)
                samples = [[marker_text(v) for v in sample] for sample in samples]
            found, now = [], pylsl.local_clock()  # (a trigger channel's first sample: a cue once the next tells, or
            for sample, ts in zip(samples, stamps):  # none came within FIRST_WAIT_S: flush)
                found += (edges.events(sample, ts, now) if edges is not None
                          else [(v, ts) for v in marker_values(sample, is_string, labels, self.raw, self.zero)])
            for value, ts in found + (edges.flush(now) if edges is not None else []):
                self.queue.append(("marker", value, float(ts), clock.offset))
            if now >= next_clock:
                next_clock = now + CLOCK_UPDATE_S
                if clock.offset != clock.update(inlet, 0.0):  # (the left side is read before the update)
                    self.queue.append(("offset", now, clock.offset))


class MarkerHub:
    """The worker's side of marker following: drains the follower, records, scores, reports.

    Parameters
    ----------
    follower
        The (started) follower thread.
    scorer
        The live scorer, or None when scoring is off (``why_off`` says why).
    recorder
        The session recorder, or None.
    unfollowed_since
        A restarted worker: the last published output's time (this host's clock); markers pushed from then until
        this generation's marker inlet opens may be missing (the follower lives in the worker). Recorded as a
        ``markers_unfollowed`` event ``{from, to, seconds}`` and shown in the status (``unfollowed``); the markers of
        that window the supervisor's witness received come with :meth:`recover` (``unfollowed.recovered``).
    """

    def __init__(self, follower: MarkerFollower, scorer: LiveScorer | None, why_off: str | None,
                 recorder: Any = None, unfollowed_since: float | None = None, setup: ScorerSetup | None = None) -> None:
        self.follower = follower
        self.scorer = scorer
        self.why_off = why_off
        self.kept: Kept = NOTHING_KEPT  # the earlier models' scores while a swapped-in model's scoring is off
        self.setup = setup  # how the scorer is rebuilt for a swapped-in model (None: no model, nothing scored)
        self.recorder = recorder
        self.stream: dict[str, Any] | None = None
        self.received = self.connects = 0
        self.stamps = MarkerStamps()  # NaN-stamped markers counted, a sender on another clock warned about
        self.connected_at: float | None = None  # when the latest marker inlet opened (this host's clock)
        self.offset = 0.0
        self.last: dict[str, Any] | None = None
        self.recent: collections.deque[list[Any]] = collections.deque(maxlen=RECENT)
        self.unfollowed_since = unfollowed_since
        self.unfollowed: dict[str, float] | None = None  # the window with no follower, once this one connected
        self._in_window: set[tuple[str, float]] = set()  # (value, source ts) received in it (pushed late, re-sent)
        self._recovered: set[tuple[str, float]] = set()  # those recover() took: the follower's copy is dropped

    @classmethod
    def start(cls, options: MarkerOptions, card: ModelCard, input_name: str, hostname: str, sfreq: float,
              time_correction: TimeCorrection, recorder: Any = None, max_lag_s: float = 0.5,
              unfollowed_since: float | None = None, input_info: pylsl.StreamInfo | None = None,
              burst_s: float = 0.0) -> MarkerHub | None:
        """A hub following the marker stream of ``options`` (None when ``options.enabled`` is false); ``burst_s``: the
        decoder's ``max_buffer_s`` (:class:`~bci_stream.service.scoring.LiveScorer`).

        Raises
        ------
        ScoringError
            ``options.marker_map`` does not fit the model (see :func:`scoring_config`).
        """
        if not options.enabled:
            return None
        setup = ScorerSetup(options, sfreq, max_lag_s, burst_s)
        scorer, why_off = make_scorer(setup, card)
        zero = scorer is not None and zero_is_event(scorer.config.marker_map)  # a class coded 0: its 0s are cues
        follower = MarkerFollower(marker_predicate(options, input_name, hostname, input_info), time_correction,
                                  zero=zero, choice=MarkerChoice.for_input(options, input_name, hostname, input_info))
        follower.reason = own_input_reason(options, input_info)  # a selector of the input itself: said while searching
        follower.start()
        return cls(follower, scorer, why_off, recorder, unfollowed_since, setup)

    def swapped(self, card: ModelCard, epoch: int) -> None:
        """A hot swap to ``card`` finished, its state epoch ``epoch`` starts now: the scoring and the follower's 0 rule
        follow the new model's map (:func:`~bci_stream.service.scoring_swap.follow_swap`)."""
        if self.setup is not None:
            self.tick()  # the markers received so far are taken under the map they were sent for
            self.scorer, self.why_off, self.kept = follow_swap(self.scorer, self.setup, card, epoch, self.kept)
            self.follower.zero = self.scorer is not None and zero_is_event(self.scorer.config.marker_map)

    def state_started(self, epoch: int, first_seq: int) -> None:
        """A reset or state restore asked through the API started ``epoch`` at input sample ``first_seq``."""
        if self.scorer is not None:
            self.scorer.epoch_started(epoch, first_seq)

    def outputs(self, ts_out: Any, y: Any, epoch: Any = 0, seq: Any = None) -> None:
        """A decoded chunk (this host's clock), its state epoch(s) and input sample numbers: to the scorer, connected
        or not (see the module docstring)."""
        if self.scorer is not None:
            self.scorer.outputs(ts_out, y, epoch, seq)

    def waiting(self) -> bool:
        """Whether the follower found something :meth:`tick` has not taken: the worker's status is due at once."""
        return bool(self.follower.queue)

    def tick(self) -> None:
        """Take what the follower found: record it, score it, keep it for status."""
        q, rec = self.follower.queue, self.recorder
        while q:
            item = q.popleft()
            kind = item[0]
            if kind == "marker":
                _, value, ts, offset = item
                if (value, ts) in self._recovered:
                    continue  # recovered from the witness first
                if (u := self.unfollowed) is not None and u["from"] - 1.0 <= ts + offset <= u["to"] + 1.0:
                    self._in_window.add((value, ts))
                self._take(value, ts, offset)
            elif kind == "connect":
                _, self.stream, self.offset, opened = item
                self.connects += 1
                self.connected_at = opened
                if rec is not None:
                    rec.marker_stream(self.stream, opened)  # when its inlet opened: a marker_connected event
                    if also := self.stream.get("also_matching"):  # chosen without the rule: said in the file
                        rec.event(opened, "markers_ambiguous", followed=self.stream.get("source_id"),
                                  also_matching=also, choose_with=self.follower.choice.cure)
                    rec.marker_clock_offset(pylsl.local_clock(), self.offset)
                self.note_unfollowed(opened)
            elif kind == "offset":
                self.offset = item[2]
                if rec is not None:
                    rec.marker_clock_offset(item[1], item[2])

    def _take(self, value: str, ts: float, offset: float) -> None:
        """One marker received (source timestamp ``ts``): scored, kept for status, recorded; one at no time, counted."""
        self.received += 1
        t = ts + offset
        if not self.stamps.usable(value, t, pylsl.local_clock()):
            return
        cls = self.scorer.marker(value, t) if self.scorer is not None else None
        self.last = {"value": value, "timestamp": t, "class": cls}
        self.recent.append([self.received - 1, value, t, cls])
        if self.recorder is not None:
            self.recorder.marker(ts, value)

    def recover(self, markers: Iterable[tuple[str, float]]) -> int:
        """The markers of the unfollowed window the supervisor's witness received (``(value, source timestamp)``
        pairs), taken as received now: scored at their own time (decided if the scorer's history still holds their
        outputs, else ``missed`` as any late marker), recorded with their own timestamps. One this follower received
        too (same value and timestamp) is dropped, and so is one outside this generation's window (by 1 s or more:
        a witness's answer to an earlier generation), and a ``"0"`` this hub's follower would not give
        (:meth:`_not_given`). Adds to ``unfollowed.recovered``; returns how many were taken."""
        self.tick()  # the connect (the window) and what the follower holds first
        if self.unfollowed is None:
            return 0
        n, lo, hi = 0, self.unfollowed["from"] - 1.0, self.unfollowed["to"] + 1.0
        for value, ts in sorted(markers, key=lambda m: m[1]):
            key = (str(value), float(ts))
            if (self._not_given(key[0]) or key in self._in_window or key in self._recovered
                    or not lo <= key[1] + self.offset <= hi):
                continue
            self._recovered.add(key)
            self._take(*key, self.offset)
            n += 1
        self.unfollowed["recovered"] = self.unfollowed.get("recovered", 0) + n
        log.info("%d marker(s) of the unfollowed window recovered from the supervisor's witness", n)
        if self.recorder is not None:
            self.recorder.event(pylsl.local_clock(), "markers_recovered", recovered=n,
                                **{k: self.unfollowed[k] for k in ("from", "to")})
        return n

    def _not_given(self, value: str) -> bool:
        """A witnessed marker this hub's follower does not give: a one-channel numeric stream's ``"0"`` when 0 is no
        event here (the witness keeps them for the decoders whose map names ``"0"``; a trigger channel's never
        give one)."""
        s, f = self.stream or {}, self.follower
        return (value == ZERO and not (f.zero or f.raw) and s.get("channel_format") == "numeric"
                and s.get("n_chans") == 1)

    def note_unfollowed(self, opened: float) -> None:
        """A restarted worker's first marker connection: the window no follower covered, in status and recording."""
        if self.unfollowed_since is None or self.unfollowed is not None:
            return
        since = self.unfollowed_since
        self.unfollowed = {"from": since, "to": opened, "seconds": round(max(0.0, opened - since), 3)}
        log.warning("markers pushed in the %.1f s before this worker followed the marker stream may be missing",
                    self.unfollowed["seconds"])
        if self.recorder is not None:
            self.recorder.event(opened, "markers_unfollowed", **self.unfollowed)

    def describe(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """``(markers, scoring)`` for the worker's status; ``markers.connected_at``: when the latest marker inlet
        opened (this host's clock; None before the first connection): every marker pushed after it is received, one
        pushed before it is not (bar those pushed in the instant the inlet was opening); ``markers.zero_is_event``:
        whether a 0 on an irregular one-channel numeric stream is the marker ``"0"`` (:func:`zero_is_event`)."""
        f = self.follower
        markers = {"state": f.state, "error": f.error, "reason": f.reason, "predicate": f.predicate,
                   "stream": self.stream, "received": self.received, "connects": self.connects,
                   "connected_at": self.connected_at, "clock_offset": self.offset, "last": self.last,
                   "recent": list(self.recent), "unfollowed": self.unfollowed, "zero_is_event": f.zero or f.raw,
                   **self.stamps.describe()}
        if self.scorer is not None:
            scoring = self.scorer.describe()
        else:
            scoring = {"off": self.why_off}
            if self.kept[0] is not None:  # swapped in: the scores under the models before it stay in the status
                scoring |= {"previous": self.kept[0], "before_previous": self.kept[1]}
        return markers, scoring

    def close(self) -> None:
        self.follower.stop()
        self.tick()  # what was pulled before the stop still goes into the recording
