"""Session recorder: inputs, decoded outputs, provenance and events into one append-only XDF file.

The hot loop only appends references to a deque (no I/O, no serialisation); a writer thread drains
it, writes XDF chunks and flushes every ``flush_interval`` seconds (default 0.5 s), so a crash of
the decoder loses at most that much. The file is readable while it is being written and after a
crash (every chunk is self-contained); :func:`bci_stream.io.session.read_session` loads it back.

Streams in the file (XDF stream ids):

1. ``input``: the input stream as received (all its channels, its own format), its own timestamps;
   the clock offsets applied online are written as XDF clock-offset chunks (collection time on the
   source's clock, ``local - offset``, LabRecorder's convention, which pyxdf's synchronisation expects).
2. ``decoded``: one float32 row per input sample, the output labels as channel labels, timestamps in
   this host's clock (as published on LSL).
3. ``provenance``: ``seq`` and ``state_epoch`` per output sample (double64).
4. ``events``: service events as JSON strings (start, stall, resume, gap, reset, swap, ``marker_connected``, …), on
   this host's clock; type ``bci-stream-events`` (:data:`EVENTS_TYPE`), never ``Markers``: a reader that takes the
   stream of type ``Markers`` (or, as :mod:`bci_stream.io.xdf`, the one string stream that is not the service's own)
   gets the cues, never these. Each connection of the marker inlet is a ``marker_connected`` event stamped (and with
   ``connected_at``) when that inlet opened: a marker pushed before it was not received. ``clock_wait``: the first
   data of a new outlet instance from another clock waited ``seconds`` for its own clock offset once the instance
   passed its check (the check's own time not included; ``estimate``: one came, or not: the deadline ended the wait).
5. ``markers`` (only once a marker stream was followed): its marker values as strings with the marker
   stream's own timestamps; its clock offsets (``local = source + offset``) as XDF clock-offset chunks, as
   for the input. The header's ``desc/marker_stream`` names the LSL stream they came from, its
   ``connected_at`` when the first marker inlet opened (this host's clock), and its own ``channel_format``,
   ``channel_count`` and ``nominal_srate`` as the follower gives them (:func:`source_format`: a one-channel numeric
   stream's ``"0"`` is then read as the live follower reads a 0).

A recording without a model (``output_header=None``: ``bci-stream record``, :mod:`bci_stream.service.record_only`)
holds streams 1, 4 and 5: no decoded outputs or provenance; its events stream is named ``<input name>-events``
(source_id ``<input source_id>/events``), its events ``seq`` the number of an input sample among those received
(its index in the file less the samples of the ``unrecorded`` events before it: audit s69record F3): ``start``,
``marker_connected``, ``stall`` (no sample for ``max(1 s, 20 periods)``, a decoder's default ``stall_timeout_s``:
``seconds``), ``resume`` (``first_timestamp``, ``silent_s``), ``gap`` (a step of the stamps over 0.5 s: ``seconds``,
``seq`` and ``first_timestamp`` of the sample after it), ``samples_lost`` (counted from the stamps as a decoder counts
them: ``lost``, ``total``, ``seq`` of the first sample after them), ``backward_step`` (the stamps went back),
``nonfinite_timestamps`` (samples the sender stamped NaN or inf, written one period after the stamp before:
``count``, ``total``, ``seq`` of the chunk's first sample),
``verify_wait`` (liblsl went on with a new outlet instance of the source that no resolve found yet: its samples
are held until it is checked, ``predicate``), ``reconnect`` (that new instance checked: ``uid``; ``error`` when it
differs in shape, which ends the recording), ``unverified`` (the recording ended before it could be checked: its held
``samples``, not written), ``lost`` (the stream gone for good) and ``stopped`` (the totals).
"""

from __future__ import annotations

import collections
import io
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pylsl

from xml.sax.saxutils import escape

from bci_stream.io.xdf_chunks import EVENTS_TYPE, XdfWriter, stream_header_xml
from bci_stream.service.record_file import RecordFile

INPUT, DECODED, PROVENANCE, EVENTS, MARKERS = 1, 2, 3, 4, 5
#: Seconds between two tries to create a recording's file that could not be created (or was removed).
RETRY_S = 2.0

log = logging.getLogger(__name__)


class Recorder:
    """Record one decoder's session to ``path`` (XDF). Thread-safe producer side, one writer thread.

    Parameters
    ----------
    path
        File to create; an existing file is refused (a recording is never overwritten).
    input_header
        ``dict`` with ``name, type, ch_names, sfreq, channel_format, source_id`` of the input stream.
    output_header
        ``dict`` with ``name, labels, sfreq, source_id, model`` of the decoded stream; None: the input, the events
        (and the markers) only, no decoded or provenance stream (a recording without a model).
    flush_interval
        Seconds between flushes to the operating system (the most a crash can lose).
    retry
        A file that cannot be created now (no room, a read-only or missing folder) is no error: it is tried again
        every :data:`RETRY_S` while what comes is counted as unrecorded (:attr:`error` says why). Without it, the
        ``OSError`` is raised (nothing left at ``path``).
    path_name
        What the path is named in the refusal of an existing file (``--out``, ``out``; a decoder's ``record_path``).

    A write that fails (no room, an I/O error) leaves the file ending on a whole chunk; what it held is counted
    (``unrecorded_samples``, ``unrecorded_markers``), writing resumes once it can, and an ``unrecorded`` event
    (``samples``, ``outputs``, ``markers``, ``events``, the input's ``first_timestamp`` and ``last_timestamp``,
    ``error``) then says what is missing. A file removed while written is created again at ``path``.
    """

    def __init__(self, path: str | Path, input_header: dict[str, Any], output_header: dict[str, Any] | None,
                 flush_interval: float = 0.5, *, retry: bool = False, path_name: str = "record_path") -> None:
        self.path = Path(path)
        exists = FileExistsError(f"{path_name} must not exist (recordings are never overwritten), got {self.path}: "
                                 "it exists (made since the recording was asked for?); choose a new file name")
        if os.path.lexists(self.path):  # (a name too long, a folder not searchable: create() says so)
            raise exists  # named as the caller names the path (`record --out`, a recording's `out`: s67rec F8)
        self.flush_interval = flush_interval
        self._stage = io.BytesIO()  # a batch's chunks, written to the file at once (or not at all)
        self._xdf = XdfWriter(self._stage)
        ih, oh = input_header, output_header
        self._xdf.add_stream(INPUT, stream_header_xml(ih["name"], ih["type"], ih["ch_names"], ih["sfreq"],
                                                      ih["channel_format"], ih["source_id"], unit=ih.get("unit", ""),
                                                      ch_types=ih.get("ch_types"), extra_desc=ih.get("extra_desc", ""),
                                                      extra_info=ih.get("extra_info", ""),
                                                      channel_extras=ih.get("channel_extras")),
                             ih["channel_format"], len(ih["ch_names"]))
        self._streams: tuple[int, ...] = (INPUT, EVENTS) if oh is None else (INPUT, DECODED, PROVENANCE, EVENTS)
        if oh is not None:
            self._add_output_streams(oh)
        else:
            self._add_events_stream(ih["name"] + "-events", ih["source_id"] + "/events")
        self._staged()
        self._source_id = (ih if oh is None else oh)["source_id"]
        self._markers_added = False
        self._queue: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._closed = False
        self.error: str | None = None  # why the file is not being written now (None while it is)
        self.last_error: str | None = None  # the latest such reason, kept once writing works again
        self.unrecorded_samples = self.unrecorded_markers = 0  # input samples / markers that never reached the file
        self._hole: dict[str, Any] | None = None  # what is missing since writing last worked (an event once it does)
        self._in_file = _Batch()  # what the current file holds (lost with it if it is removed)
        self._unsent_headers = b""  # headers of streams declared in batches that did not reach the file
        self._file = RecordFile(self.path)
        self._next_try = 0.0
        try:
            self._file.create(bytes(self._xdf.headers))
        except OSError as exc:
            if isinstance(exc, FileExistsError):  # made between the look above and here
                raise exists from None
            if not retry:
                raise
            self._failed(f"recorder cannot create {self.path}: {exc}", _Batch())
            self._next_try = time.monotonic() + RETRY_S
        self._thread = threading.Thread(target=self._run, name="bci-stream-recorder", daemon=True)
        self._thread.start()

    @property
    def bytes_written(self) -> int:
        """Bytes of the file (whole chunks)."""
        return self._file.size

    def state(self) -> dict[str, Any]:
        """For a status: the file, its size, why it is not being written now (``error``, None while it is), the
        latest such reason and the input samples and markers that never reached it."""
        return {"path": str(self.path), "bytes": self.bytes_written, "error": self.error, "last_error": self.last_error,
                "unrecorded_samples": self.unrecorded_samples, "unrecorded_markers": self.unrecorded_markers}

    def _add_output_streams(self, oh: dict[str, Any]) -> None:
        """The decoded, provenance and events streams' headers (a decoder's recording)."""
        model = oh.get("model", {})
        model_xml = "<model>" + "".join(f"<{k}>{v}</{k}>" for k, v in model.items()
                                        if k in ("name", "version", "sha256")) + "</model>"
        self._xdf.add_stream(DECODED, stream_header_xml(oh["name"], "Decoded", oh["labels"], oh["sfreq"], "float32",
                                                        oh["source_id"], extra_desc=model_xml),
                             "float32", len(oh["labels"]))
        self._xdf.add_stream(PROVENANCE, stream_header_xml(oh["name"] + "-provenance", "Provenance",
                                                           ["seq", "state_epoch"], oh["sfreq"], "double64",
                                                           oh["source_id"] + "/provenance"), "double64", 2)
        self._add_events_stream(oh["name"] + "-events", oh["source_id"] + "/events")

    def _add_events_stream(self, name: str, source_id: str) -> None:
        self._xdf.add_stream(EVENTS, stream_header_xml(name, EVENTS_TYPE, ["event"], 0.0, "string", source_id),
                             "string", 1)

    # -- producer side (hot loop) -----------------------------------------------------------------

    def inputs(self, x: np.ndarray, ts_in: np.ndarray) -> None:
        """Queue input samples as received (copied: the caller reuses its buffer)."""
        self._queue.append(("input", x.copy(), ts_in.copy()))

    def outputs(self, y: np.ndarray, ts_out: np.ndarray, seq: np.ndarray, state_epoch: int | np.ndarray) -> None:
        """Queue decoded samples with their provenance (``state_epoch``: one, or one per sample)."""
        self._queue.append(("output", y, ts_out.copy(), seq.copy(), np.array(state_epoch, copy=True)))

    def event(self, timestamp: float, kind: str, **fields: Any) -> None:
        """Queue a service event (``timestamp``: this host's clock)."""
        self._queue.append(("event", timestamp, json.dumps({"event": kind, **fields}, default=str)))

    def clock_offset(self, collection_time: float, offset: float) -> None:
        """Queue a clock offset (``local = source + offset``) measured at ``collection_time`` (this host's clock)."""
        self._queue.append(("offset", collection_time, offset))

    def marker_stream(self, stream: dict[str, Any], connected_at: float | None = None) -> None:
        """A connection of the marker inlet: the markers stream is declared at the first (``stream``: name, type,
        source_id, hostname of the LSL marker stream); each with ``connected_at`` (when its inlet opened, this
        host's clock: a marker pushed before it was not received) is a ``marker_connected`` event."""
        header = dict(stream) if connected_at is None else {**stream, "connected_at": connected_at}
        self._queue.append(("mheader", header))
        if connected_at is not None:
            self.event(connected_at, "marker_connected", connected_at=connected_at,
                       **{k: stream.get(k) for k in ("name", "type", "source_id", "hostname", "uid")})

    def marker(self, timestamp: float, value: str) -> None:
        """Queue one marker with the marker stream's own timestamp (after :meth:`marker_stream`)."""
        self._queue.append(("marker", timestamp, value))

    def marker_clock_offset(self, collection_time: float, offset: float) -> None:
        self._queue.append(("moffset", collection_time, offset))

    # -- writer thread ----------------------------------------------------------------------------

    def _staged(self) -> bytes:
        """The chunks staged since the last call."""
        data = self._stage.getvalue()
        self._stage.seek(0)
        self._stage.truncate()
        return data

    def _drain(self) -> _Batch:
        """Stage every queued item as XDF chunks; what they hold."""
        xdf, q, batch = self._xdf, self._queue, _Batch()
        ev_t, ev_v, mk_t, mk_v = [], [], [], []
        while q:
            item = q.popleft()
            if item[0] == "input":
                xdf.write_numeric(INPUT, item[2], item[1])
                batch.add_input(item[2])
            elif item[0] == "output":
                _, y, ts_out, seq, epoch = item
                xdf.write_numeric(DECODED, ts_out, y.astype(np.float32, copy=False))
                prov = np.empty((len(y), 2))
                prov[:, 0] = seq
                prov[:, 1] = epoch
                xdf.write_numeric(PROVENANCE, ts_out, prov)
                batch.outputs += len(y)
            elif item[0] == "event":
                ev_t.append(item[1])
                ev_v.append(item[2])
            elif item[0] == "offset":  # collection time on the source's clock, as LabRecorder writes it
                xdf.write_clock_offset(INPUT, item[1] - item[2], item[2])
            else:
                self._drain_marker(item, mk_t, mk_v)
        if ev_t:
            xdf.write_strings(EVENTS, ev_t, ev_v)
        if mk_t:
            xdf.write_strings(MARKERS, mk_t, mk_v)
        batch.events, batch.markers = len(ev_t), len(mk_t)
        return batch

    def _drain_marker(self, item: tuple, mk_t: list[float], mk_v: list[str]) -> None:
        if not self._markers_added:  # declared once: a stream that reconnects (or is replaced) goes on in it
            src = item[1] if item[0] == "mheader" else {}
            keys = ("name", "type", "source_id", "hostname") + (("connected_at",) if "connected_at" in src else ())
            fields = {k: src.get(k, "") for k in keys} | source_format(src)
            if src.get("chosen_by"):  # the default selector's choice (marker_choice): how, and the others left
                fields |= {"chosen_by": src["chosen_by"], "also_matching": "; ".join(src.get("also_matching") or [])}
            desc = "<marker_stream>" + "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields.items())
            desc += "</marker_stream>"
            self._xdf.add_stream(MARKERS, stream_header_xml(str(src.get("name") or "markers"), "Markers", ["marker"],
                                                            0.0, "string", self._source_id + "/markers",
                                                            extra_desc=desc), "string", 1)
            self._markers_added = True
        if item[0] == "marker":
            mk_t.append(item[1])
            mk_v.append(item[2])
        elif item[0] == "moffset":
            self._xdf.write_clock_offset(MARKERS, item[1] - item[2], item[2])

    def _run(self) -> None:
        while True:
            closing = self._wake.wait(self.flush_interval)
            self._write()
            if closing:
                return

    def _write(self, footers: bool = False) -> None:
        """Write what is queued (and, with ``footers``, the streams' footers) as one batch. A batch that cannot be
        written (no room, an I/O error, the file not there) is counted as unrecorded and the file left ending on a
        whole chunk; the next batch tries again (creating the file again at most every :data:`RETRY_S`)."""
        if self._file.removed():  # its name gone: what it holds is lost at its close
            self._file.close()
            self._failed(f"{self.path} was removed while it was written (its folder deleted?): the recording goes on "
                         "in a new file at that path", self._in_file)  # its markers, events, span too (s67rec F6)
            self._in_file, self._next_try = _Batch(), 0.0
        opened = self._file.is_open or self._reopen()
        counts, declared = self._xdf.counts(), len(self._xdf.headers)
        batch = self._drain()
        if footers:
            for sid in self._streams + ((MARKERS,) if self._markers_added else ()):
                self._xdf.close_stream(sid)
        try:
            if not opened:
                raise _NotOpen
            if self._hole is not None and any(self._hole[k] for k in ("samples", "outputs", "markers", "events")):
                event = json.dumps({"event": "unrecorded", **self._hole})  # said before what comes after the hole
                self._xdf.write_strings(EVENTS, [pylsl.local_clock()], [event])
            self._file.append(self._unsent_headers + self._staged())
        except (OSError, _NotOpen) as exc:
            self._staged()
            self._xdf.restore(counts)
            self._unsent_headers += bytes(self._xdf.headers[declared:])  # a stream declared in it: with the next
            self._failed(None if isinstance(exc, _NotOpen) else f"recorder cannot write {self.path}: {exc}", batch)
            return
        self._in_file.merge(batch)
        self._hole, self.error, self._unsent_headers = None, None, b""

    def _reopen(self) -> bool:
        """Create the file again (after it could not be created, or was removed), at most every :data:`RETRY_S`."""
        if (now := time.monotonic()) < self._next_try:
            return False
        self._next_try = now + RETRY_S
        try:
            self._file.create(self._xdf.restart_header())
        except OSError as exc:
            self._failed(f"recorder cannot create {self.path}: {exc}", _Batch())
            return False
        self._unsent_headers = b""  # the new file begins with every header
        return True

    def _failed(self, reason: str | None, batch: _Batch) -> None:
        """``batch`` never reaches the file, for ``reason`` (None: the one already said): counted, and kept for the
        ``unrecorded`` event written once writing works again."""
        if reason is not None:
            if self.error is None:
                log.warning("%s: until it can be written again, what comes is counted, not recorded", reason)
            self.error = self.last_error = reason
        self.unrecorded_samples += batch.samples
        self.unrecorded_markers += batch.markers
        hole = self._hole or {"samples": 0, "outputs": 0, "markers": 0, "events": 0, "first_timestamp": None,
                              "last_timestamp": None}
        for key in ("samples", "outputs", "markers", "events"):
            hole[key] += getattr(batch, key)
        if hole["first_timestamp"] is None:
            hole["first_timestamp"] = batch.first
        if batch.last is not None:
            hole["last_timestamp"] = batch.last
        hole["error"] = self.error
        self._hole = hole

    def close(self) -> None:
        """Write what is queued, the stream footers, and close the file. Never raises: what could not be written is
        said in :attr:`error` (naming the file and the cause)."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join()
        self._next_try = 0.0  # a file not there yet gets a last try
        self._write(footers=True)
        try:
            self._file.sync()
        except OSError as exc:
            self.error = self.last_error = f"recorder cannot finish {self.path}: {exc}"
        self._file.close()


class _NotOpen(Exception):
    """The file is not there to write to (not created yet: the next try comes later)."""


@dataclass
class _Batch:
    """What one batch of chunks holds: input samples (their first and last stamps), outputs, markers, events."""

    samples: int = 0
    outputs: int = 0
    markers: int = 0
    events: int = 0
    first: float | None = None
    last: float | None = None

    def add_input(self, stamps: np.ndarray) -> None:
        if len(stamps):
            self.samples += len(stamps)
            self.first = float(stamps[0]) if self.first is None else self.first
            self.last = float(stamps[-1])

    def merge(self, later: _Batch) -> None:
        """Add the batch written after this one."""
        for key in ("samples", "outputs", "markers", "events"):
            setattr(self, key, getattr(self, key) + getattr(later, key))
        self.first = later.first if self.first is None else self.first
        self.last = self.last if later.last is None else later.last


def source_format(stream: dict[str, Any]) -> dict[str, Any]:
    """The followed marker stream's own shape for the markers stream's ``desc/marker_stream``: ``channel_format``
    (LSL's name, ``format`` of the follower's stream dict, else its ``channel_format``: ``string`` or ``numeric``),
    ``channel_count`` (``n_chans``) and ``nominal_srate``, each when ``stream`` gives it. The file holds every marker
    as a string; a reader needs these to read a one-channel numeric stream's codes as the live follower does (a
    ``"0"``, "trigger off", is no event unless the label map names it: :mod:`bci_stream.io.marker_codes`), and a
    string stream's first channel as a decoder does (``every_channel``: 1 in a ``record`` file, which also holds each
    other channel's value)."""
    fmt = stream.get("format") or stream.get("channel_format")
    shape = {"channel_format": fmt, "channel_count": stream.get("n_chans"),
             "nominal_srate": stream.get("nominal_srate"), "every_channel": stream.get("every_channel")}
    return {k: v for k, v in shape.items() if v is not None and v != ""}
