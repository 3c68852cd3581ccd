"""Record an LSL EEG stream and its marker stream to XDF with no model: a new subject's calibration session.

A decoder records its input (``options.record_path``) only while it decodes, so only with a model whose rate and
channels fit the stream; before a lab's first subject is calibrated none may fit its amplifier (every bundled model
is 160 Hz). :class:`RecordOnly` records the same file without a model, with the service's own parts: the inlet,
:class:`~bci_stream.lsl.liblsl.ChunkPuller` and :class:`~bci_stream.lsl.source.ClockOffset` a decoder uses, its
:class:`~bci_stream.service.recorder.Recorder` (``output_header=None``: no decoded stream) and its
marker following (:class:`~bci_stream.service.markers.MarkerHub`, nothing scored). So the file is what a decoder's
recording holds of the session, and ``bci-stream calibrate FILE.xdf --labels ...`` reads it as it is:

* the input stream, every sample pulled, in order, as received (the stream's own format and timestamps), each
  channel's label, unit and type from the stream's ``desc`` (a stream that declares no unit is written in
  ``input_unit``, µV by default, as a decoder writes its ``input_unit``); the clock offsets as XDF clock-offset
  chunks, so pyxdf (and calibrate) synchronise the markers with the samples;
* the marker stream (``marker_stream``, by default ``<name>-markers`` or ``<name>-annotations`` on the input's host,
  as a decoder follows it): every marker received, with its own timestamp, each as one string value (what
  calibrate reads as the event's description). The follower runs in raw mode
  (:func:`~bci_stream.service.markers.marker_values`): a numeric code is written as its text, ``0`` and ``nan``
  included (``3`` -> ``"3"``, ``0`` -> ``"0"``, so ``--labels 0=rest`` finds a class coded 0); a string stream's
  first channel is the marker (the value a decoder scores and pyxdf readers take), and each other channel's
  non-empty value is a marker of its own at the same timestamp. A multi-channel numeric stream (mne-lsl's
  ``PlayerLSL`` annotations: one channel per description, 0 = not this one) gives the description of each non-zero
  channel, and a one-channel numeric stream with a nominal rate (a trigger channel, 0 between codes) the code where
  it changes to a non-zero one, as the decoders read them. A marker pushed before its inlet opened is not received
  (start the recording before the stimulus program's first cue).

The stream is chosen as a decoder's (:class:`~bci_stream.core.spec.StreamSelector`: the first that matches; a note names
the others), the marker stream as its ``options.markers.stream`` (by default, of several the input's own by source_id,
:mod:`~bci_stream.service.marker_choice`; a choice that rule cannot make is a note and a ``markers_ambiguous`` event).
Lost samples are counted as by a decoder (:class:`~bci_stream.lsl.gaps.GapTracker`) and reported; nothing is filled in
(the stamps as they came, but a NaN or inf stamp, placed one period after the stamp before it:
:mod:`~bci_stream.lsl.stamp_fill`, with a note). What it saw (a stall, a resume, a gap, samples lost, a step back, a
reconnection) is in the file's events stream (no reader takes it for cues; :mod:`bci_stream.service.recorder` lists
them). Messages name inputs as given (``names``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pylsl
from pylsl.util import LostError

from bci_stream.core.errors import StreamMismatchError, StreamNotFoundError
from bci_stream.core.spec import GAP_THRESHOLD_S, MarkerOptions, StreamSelector  # GAP_THRESHOLD_S: as for decoders
from bci_stream.core.status import Counters
from bci_stream.core.units import volts_per_unit
from bci_stream.lsl.dejitter import TimestampRepair
from bci_stream.lsl.info import read_labels, read_replay_speed
from bci_stream.lsl.liblsl import PULL_MAX_SAMPLES, ChunkPuller
from bci_stream.lsl.zero_stamps import restamped_message
from bci_stream.lsl.look import StreamLook
from bci_stream.lsl.source import (NUMERIC_FORMATS, OTHER_FORMATS, ClockOffset, build_predicate, described, full_info,
                                  recordable, unmapped_warning)
from bci_stream.lsl.visible import not_found_message
from bci_stream.lsl.units import read_units, recorded_channels, recording_check
from bci_stream.lsl.gaps import GapTracker
from bci_stream.service.caps import channels_refusal
from bci_stream.service.marker_choice import MarkerChoice, own_input_reason
from bci_stream.service.markers import CLOCK_UPDATE_S, MarkerFollower, MarkerHub, marker_predicate
from bci_stream.service.record_markers import MarkerCount
from bci_stream.service.record_return import ReturnWait
from bci_stream.service.record_stamps import RecordStamps
from bci_stream.service.recorder import Recorder
from bci_stream.service.record_progress import RecordTotals, progress_line  # (RecordTotals: re-exported)
from bci_stream.service.source_monitor import SourceMonitor

#: What :func:`~bci_stream.lsl.source.unmapped_warning` says of a recorded stream.
RECORDED_UNMAPPED = ("it is recorded on that host's clock (offset 0 in the file until an estimate comes): markers sent "
                     "from another host will be off by the difference of the two clocks")
BUFFER_S = 60  #: the inlet's buffer, seconds of the stream (a disk that stalls for less loses nothing)
#: A fast replay's inlet: BUFFER_S of real time, at most this many samples (s67rec F12: 100x lost all but 60 s, unseen)
MAX_BUFFER_SAMPLES = 4_000_000
FLAGS = {"out": "--out", "stream": "--stream", "marker_stream": "--marker-stream", "input_unit": "--input-unit",
         "source_id": "--source-id", "hostname": "--hostname", "type": "--type",
         "marker_source_id": "--marker-source-id"}


def refuse_existing(out: Path, names: Mapping[str, str] = FLAGS) -> None:
    """FileExistsError when ``out`` exists: a recording is never overwritten (``names``: as :class:`RecordOnly`'s)."""
    if out.exists():
        raise FileExistsError(f"{names['out']} must not exist (recordings are never overwritten), got {str(out)!r}: "
                              "it exists; choose a new file name")


class RecordOnly:
    """One recording of stream ``name`` into ``out`` (see the module docstring): :meth:`open`, :meth:`run`,
    :meth:`close` (always, also after an error in :meth:`run`).

    Parameters
    ----------
    out
        The XDF file to create (refused if it exists).
    stream, source_id
        The stream: its LSL name or a decoder's selector (name, type, source_id, hostname: every one given must
        match; the first stream that matches is recorded); ``source_id`` is added to a name.
    marker_stream
        The marker stream: its name or a selector, as a decoder's ``options.markers.stream``; None: ``<name>-markers``
        / ``<name>-annotations`` on the input's host.
    input_unit
        The unit written for a stream whose ``desc`` declares none (``uV``, ``V``, ``"0.02235 uV"`` for counts).
    resolve_timeout
        Seconds to wait for the stream.
    names
        What the messages (errors, notes, the summary) call the inputs, by key of :data:`FLAGS` (the CLI's flags).
    max_channels
        The most channels the stream may have (the service's ``max_record_channels``); None: any number.
    """

    def __init__(self, out: Path, stream: str | StreamSelector, *, source_id: str | None = None,
                 marker_stream: str | StreamSelector | None = None, input_unit: str = "uV",
                 resolve_timeout: float = 10.0, names: Mapping[str, str] = FLAGS,
                 max_channels: int | None = None) -> None:
        if volts_per_unit(input_unit) is None:  # the rule it breaks, as the API says it ('0 uV': not a voltage unit
            from bci_stream.core.units import unit_problem  # before, though it is one: audit s62interop F1)

            raise ValueError(f"{names['input_unit']} {unit_problem(input_unit)}; got {input_unit!r}")
        self.selector = sel = StreamSelector(name=stream, source_id=source_id) if isinstance(stream, str) else stream
        self.out, self.predicate = Path(out), build_predicate(sel.name, sel.type, sel.source_id, sel.hostname)
        self.name = sel.name or self.predicate  # the stream's name once found
        self.marker_stream = StreamSelector(name=marker_stream) if isinstance(marker_stream, str) else marker_stream
        self.input_unit, self.resolve_timeout, self.names = input_unit, resolve_timeout, names
        self.max_channels = max_channels
        self.counters = Counters()
        self.notes: list[str] = []  # what a lab should know (unit assumed, implausible amplitude)
        self.own_input: str | None = None  # why the marker selector finds nothing: it names the input itself
        self.stamps: RecordStamps | None = None  # the sender's clock and rate (once open)
        self.inlet: pylsl.StreamInlet | None = None
        self.puller: ChunkPuller | None = None
        self.monitor: SourceMonitor | None = None
        self.returned: ReturnWait | None = None  # a returned instance's check (open)
        self.recorder: Recorder | None = None
        self.hub: MarkerHub | None = None
        self.values: MarkerCount | None = None  # the recorder with the marker values counted (the hub's)
        # local_clock(): the data stream opened, the last data, the end
        self.sfreq = self.last_data = self.started = self.ended = 0.0
        self.removed = False  # the file was removed: it got no sample
        self.stall_after, self.stalled, self.long_gaps = 1.0, False, 0  # long_gaps: the tracker's gaps

    def open(self, stop: threading.Event | None = None) -> pylsl.StreamInfo | None:
        """Find the stream, check it can be recorded, create the file, follow the markers, open the inlet; the
        stream's full info (None: ``stop`` was set while it was being looked for).

        Raises
        ------
        FileExistsError
            ``out`` exists.
        StreamNotFoundError
            No stream matched within ``resolve_timeout``; the message lists the streams that are visible.
        StreamMismatchError
            The stream has no nominal rate or is not numeric (calibrate needs both), or more channels than
            ``max_channels`` (before its inlet opens or its file is made).
        """
        refuse_existing(self.out, (names := self.names))
        if (info := self.resolve(stop)) is None:
            return None
        if self.max_channels is not None and info.channel_count() > self.max_channels:
            raise StreamMismatchError(channels_refusal(info.name(), info.channel_count(), self.max_channels))
        self.inlet = pylsl.StreamInlet(info, max_buflen=BUFFER_S, recover=True)  # the same source_id resumes
        full = full_info(self.inlet, info)
        if (speed := read_replay_speed(full)) > 1 and full.nominal_srate() > 0:  # a fast replay (see above)
            buflen = int(min(BUFFER_S * speed, MAX_BUFFER_SAMPLES / full.nominal_srate()))
            self.inlet = pylsl.StreamInlet(info, max_buflen=max(buflen, BUFFER_S), recover=True)
        self.name, self.sfreq = full.name(), (sfreq := full.nominal_srate())
        if (fmt := full.channel_format()) not in NUMERIC_FORMATS:
            raise StreamMismatchError(f"stream {self.name!r} has channel format {OTHER_FORMATS.get(fmt, fmt)}: not "
                                      "EEG samples (a marker stream? its cues are recorded beside the EEG stream: "
                                      f"{names['stream']} names the EEG, {names['marker_stream']} the markers)")
        if sfreq == pylsl.IRREGULAR_RATE:
            raise StreamMismatchError(f"stream {self.name!r} has an irregular rate (nominal_srate 0); calibrate needs "
                                      "a nominal sampling rate")
        self.repair, self.gaps = TimestampRepair(sfreq, "auto"), GapTracker(sfreq, GAP_THRESHOLD_S)
        self.stall_after, self.last_ts = max(1.0, 20.0 / sfreq), None  # a decoder's default stall_timeout_s
        labels = read_labels(full)
        channels = recorded_channels(full, self.input_unit)
        assumed = all(u is None for u in read_units(full))
        if assumed:
            self.notes.append(f"stream {self.name!r} declares no channel unit: recorded as {self.input_unit!r} "
                              f"({names['input_unit']}); calibrate reads the file in that unit")
        self.recorder = Recorder(self.out, {
            "name": full.name(), "type": full.type(), "sfreq": sfreq, "channel_format": NUMERIC_FORMATS[fmt],
            "ch_names": [label or f"ch{i + 1}" for i, label in enumerate(labels)],
            "source_id": full.source_id() or full.name(), **channels}, None, path_name=names["out"])
        options = MarkerOptions(stream=self.marker_stream)
        choice = MarkerChoice.for_input(options, full.name(), full.hostname(), full,
                                        names.get("marker_source_id", names["marker_stream"]))
        follower = MarkerFollower(marker_predicate(options, full.name(), full.hostname(), full), "auto", raw=True,
                                  choice=choice)
        follower.reason = self.own_input = own_input_reason(options, full)  # a selector of the input itself: said
        if self.own_input is not None:  # in the notes and the summary too (audit s69record F5: 'was not found')
            self.notes.append(self.own_input)
        follower.start()  # before the input's inlet opens: its first cues are not missed while that connects
        # the data before the clock probe (0.6 s here, 2-4 s on a loaded host): samples come from the open, not before
        self.inlet.open_stream(timeout=10.0)
        self.started = pylsl.local_clock()  # a duration counts from here: the samples come from the open on
        self.values = MarkerCount(self.recorder, self.notes)
        self.hub = self.values.hub = MarkerHub(follower, None, "no model: nothing scored", self.values)
        self.clock = ClockOffset.for_stream(full, "auto")
        self.clock.update(self.inlet, 2.0)
        self.recorder.clock_offset(pylsl.local_clock(), self.clock.offset)
        if self.clock.unmapped:
            self.notes.append(unmapped_warning(full, 2.0, RECORDED_UNMAPPED))
        # a new outlet instance liblsl went on with: a reconnect (on the selector's host, if it names one)
        self.monitor = SourceMonitor(full, self.predicate, self.selector.hostname, owner="recording")
        self.monitor.follow(self.inlet, 0.0 if self.clock.unmapped else 2.0)  # none in 2 s: no second futile wait
        self.returned = ReturnWait(self.monitor, self.event)
        self.check = recording_check(channels["unit"], assumed, sfreq, self.name,  # in the unit written
                                     remedy=f"give (or correct) {names['input_unit']}")
        self.puller = ChunkPuller(self.inlet, PULL_MAX_SAMPLES, sfreq)
        self.stamps = RecordStamps(self.name, sfreq, read_replay_speed(full), self.clock, self.notes, self.event)
        self.last_data = pylsl.local_clock()
        self.event("start", stream=full.name(), type=full.type(), source_id=full.source_id(),
                   hostname=full.hostname(), uid=full.uid(), sfreq=sfreq, selector=self.predicate)
        others = [i for i in pylsl.resolve_bypred(self.predicate, 2, 1.0) if i.uid() != full.uid()]
        if others:
            self.notes.append(f"{len(others) + 1} streams match {self.predicate}: recording the first found, "
                              f"{described(full)}; not {', '.join(described(i) for i in others)} (choose with "
                              f"{names['source_id']}, {names['hostname']} or {names['type']})")
        return full

    def resolve(self, stop: threading.Event | None) -> pylsl.StreamInfo | None:
        """The stream (:class:`~bci_stream.lsl.look.StreamLook`) by ``resolve_timeout`` (StreamNotFoundError naming
        the visible ones), None if ``stop``; a :func:`recordable` one first (:meth:`StreamLook.choose`)."""
        deadline, look = pylsl.local_clock() + self.resolve_timeout, StreamLook(self.predicate)
        while stop is None or not stop.is_set():
            late = pylsl.local_clock() >= deadline  # (an unrecordable one found by then: refused, saying why)
            if (info := look.choose(recordable, late)) is not None:  # (before: the first found, e.g. a marker stream)
                return info
            if late:
                like = (sel := self.selector).name or sel.type or sel.source_id or sel.hostname or ""
                raise StreamNotFoundError(not_found_message(self.predicate, self.resolve_timeout, like))
            look.wait()
        return None

    def take(self, timeout: float | None) -> int:
        """Pull what the inlet holds (waiting up to ``timeout`` for a first sample) into the file; samples taken (0
        also while a returned instance's first chunk is held, unchecked: :mod:`~bci_stream.service.record_return`).
        ``timeout`` None: the recording ends, the rows the puller still holds go into the file (a run of stamps liblsl
        deduced from 0 that no stamped sample followed, stamped on from the stamp before it)."""
        c, back = self.counters, self.returned
        if timeout is None:
            if self.puller is None or not len((pulled := self.puller.flush())[1]):
                return 0
            x, ts = pulled
        elif back.held is not None:  # looked for again; once checked, written first (the rest waits in the inlet)
            if (held := back.release(c.samples_in, timeout)) is None:  # StreamMismatchError: run's
                return 0
            x, ts = held
        else:
            x, ts = self.puller.pull(timeout)
            if not len(ts) or not back.arrived(x, ts, c.samples_in):  # StreamMismatchError: run's
                return 0
        now = pylsl.local_clock()
        if self.stalled and timeout is not None:  # (a flushed run at the end is no resume: the stall stands)
            self.stalled, _ = False, self.monitor.stop()
            self.event("resume", first_timestamp=float(ts[0]), seq=c.samples_in, silent_s=now - self.last_data)
        if k := self.puller.last_filled:  # stamps that were no number: placed one period after the one before
            c.nonfinite_timestamps += k
            self.event("nonfinite_timestamps", count=k, total=c.nonfinite_timestamps, seq=c.samples_in)
            if c.nonfinite_timestamps == k:
                self.notes.append(f"stream {self.name!r} stamps samples NaN or inf: each is written one period after "
                                  "the stamp before it (events 'nonfinite_timestamps' in the file)")
        if k := self.puller.last_restamped:  # stamps liblsl deduced from 0: placed back from the next stamped one
            c.deduced_timestamps += k
            self.event("deduced_timestamps", count=k, total=c.deduced_timestamps, seq=c.samples_in)
            if c.deduced_timestamps == k:  # said once (the events in the file count each)
                self.notes.append(f"stream {self.name!r}: {restamped_message(k, self.puller.sfreq)}")
        self.recorder.inputs(x, ts)
        self.stamps.feed(ts)  # the sender's clock and rate, as a decoder's (s69record F1: Unix time recorded unsaid)
        first, lost, back = c.samples_in, c.samples_lost, c.backward_steps
        c.samples_in += len(ts)
        stamps = self.repair.apply(ts)
        for lo, _, gap in self.gaps.split(stamps, c, ts):
            if gap is not None:
                self.long_gaps += 1
                self.event("gap", seconds=gap, seq=first + lo, first_timestamp=float(stamps[lo]))
        self.losses(lost)
        if c.backward_steps > back:  # where the stamps went back most
            steps = np.diff(ts, prepend=ts[0] if self.last_ts is None else self.last_ts)
            self.event("backward_step", seq=first + int(np.argmin(steps)), total=c.backward_steps)
        self.last_ts = float(ts[-1])
        if self.check.feed(x) is not None:
            self.notes.append(self.check.warning)
        if timeout is not None:
            self.last_data = now
        return len(ts)

    def event(self, kind: str, **fields: Any) -> None:
        """A service event into the file's events stream, now (this host's clock)."""
        self.recorder.event(pylsl.local_clock(), kind, **fields)

    def losses(self, before: int) -> None:
        """A ``samples_lost`` event when the counter went up from ``before`` (``seq``: the first sample after)."""
        if (c := self.counters).samples_lost > before:
            self.event("samples_lost", lost=c.samples_lost - before, total=c.samples_lost, seq=self.gaps.chain_start)

    def run(self, stop: threading.Event, duration: float | None = None, progress: Callable[[str], None] | None = None,
            every: float = 5.0) -> RecordTotals:
        """Record until ``stop`` is set or ``duration`` seconds (wall clock, from the opening of the inlet's data
        stream) went by; ``progress`` gets :meth:`line` every ``every`` seconds, and each new note (the unit assumed,
        an amplitude implausible in it) as ``warning: ...`` at once. On a stop, the samples already in the inlet are
        taken too. The stream lost for good (a source without a source_id gone) ends the recording as well."""
        next_line, next_clock, told = self.started + every, self.started + CLOCK_UPDATE_S, 0
        try:
            while not stop.is_set():
                if not self.take(0.2) and not self.stalled and pylsl.local_clock() - self.last_data > self.stall_after:
                    self.stalled, lost = True, self.counters.samples_lost
                    self.gaps.settle(self.counters, final=False)  # a loss just before the silence
                    self.losses(lost)
                    self.event("stall", seconds=pylsl.local_clock() - self.last_data, seq=self.counters.samples_in)
                    self.monitor.start()  # back in another shape: liblsl gives no sample of it, so look (s67rec F10)
                if self.stalled and (seen := self.monitor.watch) is not None:  # StreamMismatchError below (its uid
                    self.monitor.check_shapes([i for i in seen.results() if self.monitor.same_source(i)])  # not seen)
                self.hub.tick()
                if progress is not None and told < len(self.notes):
                    for note in self.notes[told:]:
                        progress(f"warning: {note}")
                    told = len(self.notes)
                now = pylsl.local_clock()
                if now >= next_clock:
                    next_clock = now + CLOCK_UPDATE_S
                    self.update_clock()
                if progress is not None and now >= next_line:
                    next_line = now + every
                    progress(progress_line(self.name, self.totals()))
                if duration is not None and now - self.started >= duration:
                    break
            while self.take(0.0):  # what had arrived when the stop came
                pass
        except LostError:
            self.notes.append(f"stream {self.name!r} was lost and cannot be recovered (it has no source_id): "
                              "the recording ends here")
            self.event("lost", message=self.notes[-1], seq=self.counters.samples_in)
        except StreamMismatchError as exc:  # a new outlet instance of another shape: not this recording's stream
            self.notes.append(f"{exc}: the recording ends here")
            self.event("reconnect", uid=None, seq=self.counters.samples_in, error=str(exc))
        if self.returned is not None and (unchecked := self.returned.abandoned()) is not None:  # never found
            self.notes.append(f"stream {self.name!r}: {unchecked['samples']} samples of a returned instance no resolve "
                              "found were not written (its shape could not be checked before the end)")
            self.event("unverified", **unchecked, seq=self.counters.samples_in)
        self.take(None)  # a run the puller held: no stamped sample will follow it now
        self.ended = pylsl.local_clock()  # a recording that ended is not stalled: its stalled_s stays as it was
        return self.totals()

    def update_clock(self) -> None:
        """A fresh clock offset into the file when it changed (as a decoder's recording gets it)."""
        self.clock.update(self.inlet, 0.0)
        if self.clock.changed:
            self.recorder.clock_offset(pylsl.local_clock(), self.clock.offset)

    def totals(self) -> RecordTotals:
        c, hub = self.counters, self.hub
        stalled = (self.ended or pylsl.local_clock()) - self.last_data if self.last_data else 0.0  # 0: not started
        return RecordTotals(c.samples_in, c.samples_in / self.sfreq if self.sfreq else 0.0,
                            hub.received if hub else 0, c.samples_lost, self.long_gaps, c.backward_steps,
                            hub.follower.state if hub else "off", stalled if stalled >= 2.0 else 0.0,
                            *((r.unrecorded_samples, r.unrecorded_markers, r.error) if (r := self.recorder) else ()))

    def close(self) -> RecordTotals:
        """Stop following, count a loss still settling, finish the file (its footers) and close it. A file that got
        no sample (stopped or failed before the first) is removed: it holds nothing to calibrate, and would only
        refuse the next attempt with the same ``out``."""
        if self.inlet is not None:
            self.inlet.close_stream()
        self.inlet = self.puller = None  # freed now, not at a rare full collection (this object sits in cycles)
        if self.monitor is not None:
            self.monitor.release()
        if self.hub is not None:
            self.hub.close()  # what the follower pulled before its stop goes into the file
        if self.recorder is not None:
            c, lost = self.counters, self.counters.samples_lost
            self.gaps.settle(c)
            self.losses(lost)
            self.event("stopped", samples_in=c.samples_in, samples_lost=c.samples_lost, gaps=self.long_gaps,
                       backward_steps=c.backward_steps, markers=self.hub.received if self.hub else 0)
            self.recorder.close()
            if self.counters.samples_in == 0:
                self.recorder.path.unlink(missing_ok=True)
                self.removed = True
        return self.totals()
