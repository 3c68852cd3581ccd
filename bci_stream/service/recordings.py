"""Recordings with no model started through the control plane (``POST /recordings``): each a
:class:`~bci_stream.service.record_only.RecordOnly` (what ``bci-stream record`` runs) on a thread of the API process.

A recording is ``searching`` (its stream not found yet, or its inlet opening), ``recording``, then ``stopped`` (asked
to, its ``duration_s`` over, or the stream lost for good: the file finished) or ``error`` (the stream not found within
``resolve_timeout``, not recordable, no sample received: no file is left; or the file could not be written). Its
``summary`` is the lines ``bci-stream record`` prints at the end; its messages (``error``, ``notes``, ``summary``) name
the request's fields where the CLI's messages name its flags (:data:`REQUEST_FIELDS`). The service's shutdown stops
every recording and finishes its file (:meth:`Recordings.shutdown`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bci_stream.core.open_files_shortage import with_shortage
from bci_stream.service.record_markers import listed

if TYPE_CHECKING:
    from bci_stream.core.spec import StreamSelector
    from bci_stream.service.record_only import RecordOnly

log = logging.getLogger(__name__)

RecordingState = Literal["searching", "recording", "stopped", "error"]
#: How long a stop waits for a recording's thread (it sees the stop within 0.5 s; an inlet still opening takes longer)
STOP_TIMEOUT_S = 30.0
#: recordings that ended by themselves (stopped, error) kept listed until their DELETE; the oldest beyond go
KEEP_ENDED = 256
#: What a recording's messages call its inputs (``RecordOnly``'s ``names``, keyed as its ``FLAGS``): the fields of the
#: ``POST /recordings`` body (``RecordingSpec``), where ``bci-stream record`` names its flags.
REQUEST_FIELDS = {"out": "out", "stream": "stream", "marker_stream": "options.markers.stream",
                  "input_unit": "input_unit", "source_id": "stream.source_id", "hostname": "stream.hostname",
                  "type": "stream.type", "marker_source_id": "options.markers.stream.source_id"}


class Recording:
    """One recording: its :class:`RecordOnly`, its thread and stop flag, its state.

    Parameters
    ----------
    out
        The file (absolute), ``recordings_dir / relative``.
    relative
        ``out`` as the request gave it (relative to the service's recordings_dir).
    stream, marker_stream
        The EEG stream's selector, and the marker stream's (None: ``<name>-markers``/``-annotations``).
    input_unit, duration_s, resolve_timeout
        As ``bci-stream record``'s ``--input-unit``, ``--duration``, ``--timeout``.
    max_channels
        The most channels the stream may have (``max_record_channels``; None: any number).
    """

    def __init__(self, out: Path, relative: str, stream: StreamSelector, marker_stream: StreamSelector | None,
                 input_unit: str, duration_s: float | None, resolve_timeout: float,
                 max_channels: int | None = None) -> None:
        from bci_stream.service.record_only import RecordOnly

        self.id = uuid.uuid4().hex[:12]
        self.relative, self.stream, self.marker_stream = relative, stream, marker_stream
        self.duration_s, self.input_unit = duration_s, input_unit
        self.rec: RecordOnly = RecordOnly(out, stream, marker_stream=marker_stream, input_unit=input_unit,
                                          resolve_timeout=resolve_timeout, names=REQUEST_FIELDS,
                                          max_channels=max_channels)
        self.state: RecordingState = "searching"
        self.error: str | None = None
        self.summary: list[str] = []
        self.created = time.time()
        self.ended: float | None = None
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"bci-stream-recording-{self.id}", daemon=True)

    @property
    def out(self) -> Path:
        return self.rec.out

    def _run(self) -> None:
        """Open, record until stopped (or ``duration_s``), close: the CLI's sequence, its messages as ``error``."""
        from pylsl.util import LostError, TimeoutError as LslTimeoutError

        from bci_stream.core.errors import StreamError
        from bci_stream.service.record_summary import summary

        rec, full, error = self.rec, None, None
        try:
            full = rec.open(self.stop_flag)
            if full is not None and not self.stop_flag.is_set():
                self.state = "recording"
                rec.run(self.stop_flag, self.duration_s)
        except FileExistsError as exc:  # the file made meanwhile
            error = str(exc)
        except StreamError as exc:  # not found, not recordable (liblsl out of descriptors finds nothing: said)
            error = with_shortage(str(exc), exc)
        except (LostError, LslTimeoutError) as exc:  # found, then gone before its inlet opened (or no descriptor)
            error = with_shortage(f"stream {rec.name!r} went away while connecting: {exc}", exc)
        except OSError as exc:  # its file could not be created (its folder became unwritable meanwhile)
            error = with_shortage(f"out {self.relative!r} cannot be written: {exc}", exc)
        except Exception as exc:  # noqa: BLE001 - a recording's failure is its state, never the API's
            log.exception("recording %s failed", self.id)
            error = with_shortage(f"{type(exc).__name__}: {exc}", exc)  # liblsl's words for no descriptor left
        finally:
            try:
                totals = rec.close()
            except Exception as exc:  # noqa: BLE001 - as above
                log.exception("recording %s could not be closed", self.id)
                totals, error = None, error or f"the file could not be finished: {type(exc).__name__}: {exc}"
        if full is None and error is None:
            self.summary = [f"stopped while looking for stream {rec.name!r}: nothing recorded"]
        elif totals is not None and rec.recorder is not None:
            self.summary = summary(rec, totals)
        if error is None and rec.removed:
            error = self.summary[0].removeprefix("warning: ")
        if error is None and rec.recorder is not None and rec.recorder.error is not None:
            error = rec.recorder.error
        if error is None and totals is not None and totals.unrecorded:  # as bci-stream record exits 1 then
            error = next(line for line in self.summary if "not written" in line).removeprefix("warning: ")
        self.error, self.ended = error, time.time()
        self.state = "error" if error is not None else "stopped"

    def view(self) -> dict[str, Any]:
        """The recording's status (:class:`~bci_stream.api.schemas.RecordingStatus`)."""
        rec = self.rec
        t = rec.totals()
        hub = rec.hub
        followed = None if hub is None or hub.stream is None else hub.stream.get("name")
        kept = self.state in ("searching", "recording") or (rec.recorder is not None and not rec.removed)
        return {
            "id": self.id, "state": self.state, "error": self.error, "out": self.relative,
            "path": str(rec.out) if kept else None,
            "stream": self.stream.model_dump(exclude_none=True),
            "stream_name": rec.name if rec.recorder is not None else None, "sfreq": rec.sfreq or None,
            "marker_stream": hub.follower.predicate if hub is not None else None, "marker_stream_name": followed,
            "marker_state": t.marker_state, "input_unit": self.input_unit, "duration_s": self.duration_s,
            "samples": t.samples, "seconds": t.seconds, "markers": t.markers, "lost_samples": t.lost,
            "gaps": t.gaps, "backward_steps": t.backward_steps, "stalled_s": t.stalled_s,
            "unrecorded_samples": t.unrecorded, "unrecorded_markers": t.unrecorded_markers,
            "write_error": t.write_error,
            "timestamps": rec.stamps.describe() if rec.stamps is not None else None,
            **dict(zip(("marker_counts", "unlisted_marker_values"),
                       listed(_copy(rec.values.counts)) if rec.values is not None else ({}, 0))),
            "notes": list(rec.notes), "summary": list(self.summary),
            "created": self.created, "ended": self.ended,
        }


def _copy(counts: dict[str, int]) -> dict[str, int]:
    """A copy of a dict the recording's thread may be adding to (a copy that met an insertion is taken again)."""
    while True:
        try:
            return dict(counts)
        except RuntimeError:  # changed size during iteration
            continue


class Recordings:
    """The API's table of recordings: start, list, get, stop (which removes it), shutdown.

    Parameters
    ----------
    recordings_dir
        The folder every ``out`` is relative to (the decoders' ``record_path`` folder); None: none can start.
    max_recordings
        Most recordings searching or recording at once (None: no cap; :mod:`bci_stream.service.caps`).
    max_channels
        Most channels of a recorded stream (None: any number).
    """

    def __init__(self, recordings_dir: str | None, max_recordings: int | None = None,
                 max_channels: int | None = None) -> None:
        self.recordings_dir = None if recordings_dir is None else Path(recordings_dir)
        self.max_recordings, self.max_channels = max_recordings, max_channels
        self._lock = threading.Lock()
        self._table: dict[str, Recording] = {}
        self._closing = False

    def out_refusal(self, relative: str) -> str | None:
        """Why ``relative`` (already checked as a ``record_path`` is) cannot be recorded to now, or None: no
        recordings_dir, the file exists (recordings are never overwritten, as ``bci-stream record --out``), or a
        recording of this service is about to write it."""
        from bci_stream.service.record_paths import (name_length_problem, recordings_dir_problem,
                                                     subfolder_problem)

        if self.recordings_dir is None:
            return "out was given but the service has no recordings_dir"
        if (why := recordings_dir_problem(self.recordings_dir)) is not None:
            return f"out {relative!r} cannot be written: {why}"
        if (why := name_length_problem(self.recordings_dir, relative, "out")) is not None:
            return why
        path = self.recordings_dir / relative
        if os.path.lexists(path):  # a link too, dangling or not: never written through
            return (f"out must not exist (recordings are never overwritten), got {relative!r}: {path} exists; "
                    "choose a new file name")
        if (why := subfolder_problem(self.recordings_dir, relative, "out")) is not None:
            return why
        with self._lock:
            return self._taken(path, relative)

    def taken(self, path: Path, relative: str, field: str = "out") -> str | None:
        """Why ``path`` (a request's ``field``) is a running recording's file, or None."""
        with self._lock:
            return self._taken(path, relative, field)

    def _taken(self, path: Path, relative: str, field: str = "out") -> str | None:
        """Why ``path`` is taken by a recording still to write it (searching or recording), or None; under the
        lock."""
        taken = next((r for r in self._table.values()
                      if os.path.normpath(r.out) == os.path.normpath(path) and r.state in ("searching", "recording")),
                     None)
        if taken is None:
            return None
        return f"{field} must not be a running recording's file, got {relative!r}: recording {taken.id!r} writes it"

    def start(self, relative: str, stream: StreamSelector, marker_stream: StreamSelector | None, input_unit: str,
              duration_s: float | None, resolve_timeout: float) -> Recording:
        """A new recording of ``stream`` into ``recordings_dir / relative``, started on its thread (returns at once).

        Raises
        ------
        ValueError
            Another recording is to write that file (two requests at once: :meth:`out_refusal` passed both).
        RuntimeError
            The service is shutting down.
        CapacityError
            ``max_recordings`` recordings are searching or recording.
        """
        from bci_stream.core.errors import CapacityError
        from bci_stream.service.caps import recordings_full

        assert self.recordings_dir is not None  # out_refusal said so first
        recording = Recording(self.recordings_dir / relative, relative, stream, marker_stream, input_unit,
                              duration_s, resolve_timeout, self.max_channels)
        with self._lock:
            if self._closing:
                raise RuntimeError("the service is shutting down: no recording starts")
            if (why := self._taken(recording.out, relative)) is not None:
                raise ValueError(why)
            if self.max_recordings is not None and self.running() >= self.max_recordings:
                raise CapacityError(recordings_full(self.max_recordings))
            self._forget_oldest_ended()
            self._table[recording.id] = recording
        recording.thread.start()
        return recording

    def running(self) -> int:
        """How many recordings are searching or recording: what ``max_recordings`` counts."""
        return sum(r.state in ("searching", "recording") for r in list(self._table.values()))

    def _forget_oldest_ended(self) -> None:
        """Make room for one more listed recording that ended by itself (``stopped``, ``error``; under the lock): the
        oldest of those beyond :data:`KEEP_ENDED` go (their files stay; a DELETE of one then is 404). Before, every
        one stayed listed until its DELETE: 300 that failed fast made ``GET /recordings`` 0.97 MB (review s48 F5)."""
        ended = sorted((r for r in self._table.values() if r.state in ("stopped", "error")),
                       key=lambda r: r.ended or r.created)
        for old in ended[:max(0, len(ended) - KEEP_ENDED + 1)]:
            del self._table[old.id]
            log.info("recording %s (%s, ended %s) is no longer listed: %d ended recordings are kept", old.id,
                     old.state, time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(old.ended or old.created)),
                     KEEP_ENDED)

    def list(self) -> list[Recording]:
        with self._lock:
            return sorted(self._table.values(), key=lambda r: r.created)

    def get(self, recording_id: str) -> Recording | None:
        with self._lock:
            return self._table.get(recording_id)

    def stop(self, recording_id: str, timeout: float = STOP_TIMEOUT_S) -> Recording | None:
        """Stop a recording, wait for its file to be finished, remove it from the table; None if there is no such
        recording (or another caller is stopping it: only one of them gets it)."""
        with self._lock:
            recording = self._table.pop(recording_id, None)
        if recording is not None:
            recording.stop_flag.set()
            recording.thread.join(timeout)
        return recording

    def shutdown(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop every recording and finish its file (the service is stopping)."""
        with self._lock:
            self._closing = True
            recordings = list(self._table.values())
        for recording in recordings:
            recording.stop_flag.set()
        for recording in recordings:
            recording.thread.join(timeout)
