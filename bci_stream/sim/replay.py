"""Replay a recorded file over LSL at real-time pace, with a marker stream of its events.

Any file :func:`bci_stream.io.load_recording` reads (EDF/BDF/GDF/FIF/EEGLAB/BrainVision/BCI2000/XDF/NPZ) is
streamed as float32 with the file's channel names, and each channel's type and unit in the ``desc``
(:func:`stream_channels`): voltage channels in microvolts, others in the file's own unit, sample ``k`` stamped
``t_start + k / (sfreq * speed)`` on ``pylsl.local_clock()``. Chunks are released on that absolute
schedule, so the stream never drifts against the LSL clock however long it runs (``--loop``), and a
late push is caught up by pushing back to back.

A recording that is not continuous (a BrainVision ``New Segment/`` after the start: Recorder paused and resumed; an
EEGLAB ``boundary``: data cut out; mne's ``BAD boundary``/``EDGE boundary``: files joined) is streamed as if it
were: the samples on both sides of each such point go out back to back on one unbroken timeline, and its event goes
out as a marker. :func:`run_replay` says so at the start, in a :class:`~bci_stream.io.errors.RecordingWarning`
naming the file, how many such points and at which times (:func:`discontinuity_warning`).

At the end the outlets are destroyed only once their consumers have let go (or after ``linger`` seconds):
a consumer whose outlet vanishes under it sees a broken transmission (liblsl logs
``Stream transmission broke off`` in the consumer's process), and samples not yet sent are lost. A
consumer that knows the file's length closes its inlet after the last sample, and the replay ends then.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pylsl

from bci_stream.core.lsl_text import played_source_id
from bci_stream.io import Recording, load_recording
from bci_stream.lsl.info import REPLAY_SPEED, make_stream_info
from bci_stream.sim.quiet_end import LINGER_S, stop_signals_ignored, wait_for_consumers_to_leave


#: With ``wait_for_consumer``: how long after the first sample markers wait for a consumer of their own (seconds).
MARKER_WAIT_S = 3.0


def run_replay(
    path: str | Path,
    name: str,
    *,
    chunk_size: int | None = None,
    loop: bool = False,
    speed: float = 1.0,
    source_id: str | None = None,
    stype: str = "EEG",
    stop_event: Any = None,
    on_ready: Callable[[Recording], object] | None = None,
    recording: Recording | None = None,
    wait_for_consumer: float | None = None,
    linger: float = LINGER_S,
    **load_opts: Any,
) -> int:
    """Stream ``path`` on LSL outlet ``name`` (and its events on ``name-markers``); return samples pushed.

    Parameters
    ----------
    path
        The recording (format by extension).
    name
        LSL stream name.
    chunk_size
        Samples per push; default ``max(1, round(sfreq / 32))``.
    loop
        Start again at the end, until stopped (sample timestamps keep increasing).
    speed
        Pace relative to real time (``2.0`` = twice as fast: for tests and dry runs; the nominal rate in
        the stream's header stays the file's ``sfreq``).
    source_id
        LSL source_id; default ``replay:<file name>:<name>`` (stable, so a decoder resumes after a
        restart of the replay).
    stop_event
        An ``Event``; streaming stops within one chunk period after it is set (and the wait of ``linger``
        ends).
    on_ready
        Called with the loaded recording once the outlets exist, before the first push.
    recording
        Already loaded data to stream instead of reading ``path`` again.
    wait_for_consumer
        Seconds to wait for a consumer (e.g. a decoder) to connect before the first sample, so that
        it receives the whole file; None starts at once. Markers are then held back until the markers have a
        consumer too (a decoder's marker follower connects a moment after its data inlet), at most
        :data:`MARKER_WAIT_S` after the first sample, and pushed with their own timestamps: a cue at the first
        sample is not lost, and the data are not delayed.
    linger
        After the last push (not after a stop), wait until no consumer is connected to either outlet, at
        most this many seconds, before destroying the outlets (0: at once).
    **load_opts
        Passed to :func:`bci_stream.io.load_recording` (e.g. ``cues``: :func:`label_cues`, ``ch_names``).
    """
    if not speed > 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if not linger >= 0:
        raise ValueError(f"linger must be >= 0 seconds, got {linger}")
    rec = recording if recording is not None else load_recording(path, **load_opts)
    if (said := discontinuity_warning(rec, Path(path).name, f"{name}-markers")) is not None:
        from bci_stream.io.errors import RecordingWarning

        warnings.warn(said, RecordingWarning, stacklevel=2)
    sfreq = rec.sfreq
    chunk = chunk_size or max(1, round(sfreq / 32))
    source_id = source_id or played_source_id(f"replay:{Path(path).name}:{name}")
    x = np.ascontiguousarray(rec.data.T, dtype=np.float32)
    events = sorted(rec.events, key=lambda e: e.onset)
    units, types = stream_channels(rec)
    info = make_stream_info(name, stype, rec.ch_names, sfreq, source_id, unit=units, ch_type=types)
    desc = info.desc().append_child("acquisition")
    desc.append_child_value("replay_of", str(path))
    desc.append_child_value(REPLAY_SPEED, f"{speed:.17g}")  # the service expects stamps this much denser
    outlet = pylsl.StreamOutlet(info, chunk)
    marker_outlet = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE,
                                                        "string", f"{source_id}-markers"))
    period = 1.0 / (sfreq * speed)
    pushed = 0
    try:
        if on_ready is not None:
            on_ready(rec)
        if wait_for_consumer is not None and not _wait_for_a_consumer(outlet, wait_for_consumer, stop_event):
            if stop_event is not None and stop_event.is_set():
                return pushed
            raise TimeoutError(f"no consumer connected to '{name}' within {wait_for_consumer:g} s")
        t_start = pylsl.local_clock()
        # a follower of the markers connects a moment after the data (it resolves them once its data inlet is up):
        # until it does (at most MARKER_WAIT_S), markers wait here and then go out with their own timestamps
        held: list[tuple[str, float]] | None = [] if wait_for_consumer is not None and events else None
        while True:
            ev_i = 0
            for lo in range(0, rec.n_times, chunk):
                hi = min(lo + chunk, rec.n_times)
                due = t_start + (pushed + hi - lo - 1) * period
                wait = due - pylsl.local_clock()
                if wait > 0:
                    if stop_event is not None:
                        if stop_event.wait(wait):
                            return pushed
                    else:
                        time.sleep(wait)
                elif stop_event is not None and stop_event.is_set():
                    return pushed
                stamps = t_start + (pushed + np.arange(hi - lo)) * period
                outlet.push_chunk(x[lo:hi], stamps.tolist())
                while ev_i < len(events) and events[ev_i].onset < hi:
                    ev = events[ev_i]
                    stamp = t_start + (pushed + ev.onset - lo) * period
                    if held is None:
                        marker_outlet.push_sample([ev.description], stamp)
                    else:
                        held.append((ev.description, stamp))
                    ev_i += 1
                if held is not None and (marker_outlet.have_consumers()
                                         or pylsl.local_clock() - t_start >= MARKER_WAIT_S):
                    for value, stamp in held:
                        marker_outlet.push_sample([value], stamp)
                    held = None
                pushed += hi - lo
            if not loop:
                if held is not None:  # a file shorter than the wait: its markers go out now, seen or not
                    _wait_for_a_consumer(marker_outlet, max(0.0, MARKER_WAIT_S - (pylsl.local_clock() - t_start)),
                                         stop_event)
                    for value, stamp in held:
                        marker_outlet.push_sample([value], stamp)
                    held = None
                wait_for_consumers_to_leave((outlet, marker_outlet), linger, stop_event)
                return pushed
    except KeyboardInterrupt:  # Ctrl-C (and SIGTERM in the CLI): stop now, outlets go at once
        return pushed
    finally:
        with stop_signals_ignored():  # a stop signal now would be a traceback in the outlet's __del__ (s67rec F1)
            del outlet, marker_outlet


#: What each kind of discontinuity (:data:`~bci_stream.train.classical.bad_spans.BOUNDARIES`) is, for the warning
_DISCONTINUITY = {"new segment/": "BrainVision Recorder paused and resumed", "boundary": "EEGLAB: data cut out",
                  "dc correction/": "BrainVision Recorder reset the amplifier's DC offsets: a step in the data",
                  "bad boundary": "mne: files joined", "edge boundary": "mne: files joined",
                  "timestamp jump": "the XDF file's timestamps jump forward: a pause, a restarted sender or lost "
                                    "samples",
                  "record gap": "the EDF+D/BDF+D file's records are not back to back: a pause"}


def label_cues(lists: Sequence[str], pairs: Sequence[str]) -> list[str] | None:
    """The events of ``bci-stream replay``'s label map (``--labels EVENT=CLASS[,...]`` ``lists`` and ``--label
    EVENT=CLASS`` ``pairs``, the syntax of ``evaluate`` and ``calibrate``: ``EVENT=`` ignores it), for
    :func:`~bci_stream.io.load_recording`'s ``cues``; None when neither is given. They decide which markers a file's
    numeric marker stream gives, by the rule of ``[data.reader] zero`` and of the decoders
    (:func:`~bci_stream.io.marker_codes.zero_is_event`): a 0 is "trigger off", no marker, unless the map names
    ``"0"`` (a class coded 0). The markers still go out as the file's codes (``"0"``, ``"1"``): the decoder's own
    map labels them.

    Raises
    ------
    LabelMapError
        Naming the flag, the rule and the value (:func:`~bci_stream.io.labels.merge_label_maps`).
    """
    if not lists and not pairs:
        return None
    from bci_stream.io.labels import merge_label_maps

    return list(merge_label_maps(lists, pairs, list_flag="--labels", allow_ignore=True))


def absent_cues(cues: Sequence[str] | None, rec: Recording, file: str) -> str | None:
    """A note naming the events of :func:`label_cues` that no event of ``rec`` is (a typo: ``O=rest`` for
    ``0=rest``), or None. The replay streams the file's markers either way: nothing is labelled, only the 0 rule
    depends on the map."""
    from bci_stream.core.channels import shortlist

    present = {str(e.description) for e in rec.events}
    absent = [c for c in cues or () if c not in present]
    return None if not absent else (f"note: --labels names event(s) {shortlist([repr(c) for c in absent])} that no "
                                    f"marker of {file} is; its markers are replayed as they are")


def discontinuity_warning(rec: Recording, file: str, markers: str) -> str | None:
    """The warning :func:`run_replay` gives for a recording whose events mark a discontinuity after its first sample
    (:func:`~bci_stream.train.classical.bad_spans.is_boundary`, the rule ``calibrate`` leaves trials out by), e.g.
    ``run.vhdr: the recording is not continuous at 2 point(s): New Segment/ (BrainVision Recorder paused and
    resumed) at t=60.000 s, 125.500 s; the replay streams the samples on both sides of each back to back and the
    stream's timestamps run on through them as if the recording were continuous (the time paused or cut out is not
    in the stream; each point is the marker 'NAME-markers' sends)``; None when there is none. ``file`` names the
    recording, ``markers`` the marker stream; times are in the file (seconds from its first sample)."""
    from bci_stream.core.channels import shortlist
    from bci_stream.train.classical.bad_spans import is_boundary

    at: dict[str, list[int]] = {}
    for ev in sorted(rec.events, key=lambda e: e.onset):
        if is_boundary(ev.description) and ev.onset > 0:  # at sample 0 it follows no data
            at.setdefault(str(ev.description).strip(), []).append(int(ev.onset))
    if not at:
        return None
    points = len({onset for onsets in at.values() for onset in onsets})
    kinds = "; ".join(f"{desc} ({_DISCONTINUITY.get(desc.lower(), 'a discontinuity')}) at t="
                      + shortlist([f"{k / rec.sfreq:.3f}" for k in onsets], 6) + " s" for desc, onsets in at.items())
    return (f"{file}: the recording is not continuous at {points} point(s): {kinds}; the replay streams the samples "
            "on both sides of each back to back and the stream's timestamps run on through them as if the recording "
            f"were continuous (the time paused or cut out is not in the stream; each point is the marker "
            f"'{markers}' sends)")


def stream_channels(rec: Recording) -> tuple[list[str], list[str]]:
    """The unit and the type the replay writes in the ``desc`` for each channel of ``rec``.

    Units: what the values streamed are in (``rec.data`` as loaded): ``microvolts`` for every voltage channel, the
    file's own unit for another (``degC``, ``g``), and ``none`` for one the file gives no unit: never blank, because
    one blank unit makes mne-lsl drop every channel's unit (its EEG then reads as volts, not µV). Types: the
    recording's (mne's names, upper-cased: ``EEG``, ``EOG``, ``EMG``, ``MISC``); ``EEG`` for every channel of a
    format that gives none (BCI2000, NPZ without types).
    """
    types = [t.strip().upper() or "MISC" for t in rec.ch_types] if rec.ch_types is not None else ["EEG"] * rec.n_chans
    return rec.units(), types


def _wait_for_a_consumer(outlet: pylsl.StreamOutlet, timeout: float, stop_event: Any) -> bool:
    """``outlet.wait_for_consumers(timeout)`` in slices of 0.1 s: liblsl's wait does not return for a signal,
    so Ctrl-C (or ``stop_event``) would otherwise go unnoticed until it ends."""
    deadline = time.monotonic() + timeout
    while not outlet.wait_for_consumers(min(0.1, max(0.0, deadline - time.monotonic()))):
        if time.monotonic() >= deadline or (stop_event is not None and stop_event.is_set()):
            return False
    return True
