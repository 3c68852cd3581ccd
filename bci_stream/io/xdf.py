"""XDF through pyxdf: one signal stream becomes the data, one marker stream becomes the events.

* Signal stream: ``stream`` (a name, else a type); by default the only numeric stream with a nominal
  rate. Its sfreq is the nominal rate; its samples are taken as they are (no resampling).
* A bci-stream session (``record_path``, or LabRecorder beside a running decoder) also holds the service's
  own streams: the decoded outputs (type ``Decoded``, source_id ``S``), their provenance (``S/provenance``)
  and the service events (``S/events``; type ``bci-stream-events``, as in a ``bci-stream record`` file, which has
  no decoded stream). They are never default candidates, so such a file gives its input stream and its followed
  marker stream without options.
* Units: each channel's ``desc/channels/channel/unit`` (``microvolts``/``uV``, ``millivolts``/``mV``,
  ``volts``/``V``, ``nanovolts``/``nV``, or mne-lsl's power of ten on a voltage channel type: ``0`` = V,
  ``-6`` = µV) is converted to µV; a stream that gives **no channel a unit is taken to be in µV** (the XDF/LSL
  convention for EEG): blank units, or units that say there is none (``none``, ``n/a``, ``unknown``), as the live
  service reads them (:func:`bci_stream.core.units.stream_units`, one rule for both); beside channels with a unit
  such a channel, a blank one too, is not guessed (the live service refuses it there) but kept as below. A channel
  in another unit (an accelerometer's ``g``, mne-lsl's ``none`` on a stim channel) is kept as it is, with its unit
  (``ch_units``), and typed ``misc`` unless the ``desc`` gives it a type that is not a voltage type (``stim``,
  ``temperature``), so calibration leaves it out;
  a stream with no voltage channel at all is refused. Channel types (``ch_types``): the ``desc``'s ``type``
  lower-cased, else ``eeg``.
* Marker stream: ``marker_stream`` (a name, else a type); by default the only string-valued stream, else (a file
  with none) the only numeric stream without a nominal rate (a stimulus program's int or float codes, mne-lsl
  ``PlayerLSL``'s annotations); none → no events. Its values are read as the service reads them live
  (:mod:`bci_stream.io.marker_codes`): a string stream's first value (one that bci-stream recorded from a
  one-channel numeric stream without a rate, as its header's ``desc/marker_stream`` says:
  :func:`bci_stream.service.recorder.source_format`, keeps every code as text, ``"0"`` included: read as that stream
  live, a ``"0"`` an event only with ``zero``); a one-channel numeric stream's code as text
  (``"3"``), a 0 ("trigger off") being no event unless ``zero=True`` (:func:`bci_stream.io.load.load_recording` sets
  it when the label map names ``"0"``: a class coded 0); a numeric stream of several channels: the label of each
  non-zero channel; a one-channel numeric stream with a rate, when ``marker_stream`` names it (a trigger channel,
  then no signal candidate; never a default marker candidate): a code where the value changes to a non-zero one, its
  first sample only setting the level. Each marker becomes an event at the signal sample nearest its timestamp;
  markers outside the signal's time span are dropped, with a warning naming them. Timestamps that go back (a clock
  reset the file's clock offsets do not resolve): see :mod:`bci_stream.io.xdf_clock` (markers placed per
  part of the recording, or the file refused when that is ambiguous). Durations are 0
  unless ``until_next=True``, which gives each marker the span until the next marker (the last one:
  until the end; any: at most until a jump, below), for cue streams that mark only onsets.
* Timestamps of the signal stream that jump forward by more than max(0.5 s, 3 periods) (a recording that went on
  across two runs, a pause, lost samples: :mod:`bci_stream.io.xdf_clock`) are a discontinuity: a
  ``timestamp jump`` event at the first sample after each, and a RecordingWarning naming the file, the stream, the
  sample, its time in the file and the jump's length. Jumps are found on the stamps as written: a step between two
  stairs of a stair-case (a chunk's samples stamped alike) counts only by what it exceeds the stair's length.
* Sample times (where markers go): a regular signal stream (per-sample stamps at a constant rate: every step a whole
  number of its usual step, as the service's recordings and many amplifier apps write them) keeps its own stamps;
  another (chunks stamped on arrival, as over Bluetooth; a stair-case of equal stamps per chunk) is de-jittered: a
  least-squares line of stamp against sample per part between jumps, as pyxdf's de-jittering fits
  (:func:`bci_stream.io.xdf_clock.step_irregularity`, :func:`~bci_stream.io.xdf_clock.dejitter`). The file is read
  once, with pyxdf's clock synchronisation and without its de-jittering; a rate more than 10% off the nominal one is
  said in a RecordingWarning (pyxdf said it when it de-jittered). The marker stream's stamps are taken as they are.
  Samples lost in a regular stream for 0.5 s or less (no jump) leave its other samples back to back in the data,
  with no event, as a decoder receives them, and a RecordingWarning says where and how many; each marker still goes
  on its own sample, and one stamped inside the loss on the nearest sample kept. In a de-jittered stream such a loss
  is found net of the jitter as the service counts it (:mod:`bci_stream.io.xdf_losses`), said, and the line broken
  there; one no larger than the jitter is not seen and is spread by the line.
* pyxdf's own warnings and errors (a truncated or corrupt file: ``found likely XDF file corruption (...), scanning
  forward to next boundary chunk``) are RecordingWarnings naming the file (:func:`load_xdf`), not log lines.
* pyxdf's warning ``Stream N: Segments and clock-segments differ`` is dropped for a stream that has no clock offset
  at all (:func:`load_xdf`): it compares the stream's segments with clock segments that only exist where there are
  offsets, so it fires for every such stream (the service's decoded, provenance and events streams, written on the
  recording host's clock, which need none: XDF spec, ClockOffset chunk). For a stream with clock offsets it is kept
  (without de-jittering, pyxdf gives it only where its clock offsets show a clock reset; a jump is said by the
  reader's own warning).
"""

from __future__ import annotations

import bisect
import io
import logging
import re
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bci_stream.core.units import MNE_VOLTAGE_TYPES, stream_units, volts_per_unit
from bci_stream.io.errors import DataError, RecordingWarning
from bci_stream.io.recording import UNIT, Event
from bci_stream.io.extras import require
from bci_stream.io.marker_codes import stream_markers
from bci_stream.io.xdf_chunks import EVENTS_TYPE, check_begins_as_xdf
from bci_stream.io.xdf_cut import cut_message, cut_short
from bci_stream.io.xdf_losses import jittered_losses, warn_jittered_losses
from bci_stream.io.xdf_clock import (GRID_TOLERANCE, JUMP, dejitter, mark_jumps, place_markers, step_irregularity,
                                     warn_losses, warn_rate)


def _info(stream: dict[str, Any], key: str) -> str:
    value = stream["info"].get(key, [""])
    return str(value[0]) if value and value[0] is not None else ""


def _describe(streams: list[dict[str, Any]]) -> str:
    return ", ".join(f"{_info(s, 'name')!r} (type {_info(s, 'type')!r}, {_info(s, 'channel_format')}, "
                     f"{float(_info(s, 'nominal_srate') or 0):g} Hz)" for s in streams) or "none"


def _select(streams: list[dict[str, Any]], wanted: str | None, default: list[dict[str, Any]], what: str,
            path: Path, *, required: bool) -> dict[str, Any] | None:
    if wanted is not None:
        hits = [s for s in streams if _info(s, "name") == wanted] or [s for s in streams if _info(s, "type") == wanted]
        if len(hits) != 1:
            raise DataError(f"{what} must name exactly one stream of {path.name} by name or type; "
                            f"{wanted!r} matches {len(hits)}; streams are {_describe(streams)}")
        return hits[0]
    if len(default) == 1:
        return default[0]
    if not default and not required:
        return None
    if not streams:  # (before: "0 candidate streams; pass stream=<name>", an option that cannot help: s67rec F3)
        raise DataError(f"{path.name} holds no stream (no stream header chunk): nothing was recorded in it")
    if not default and what == "stream":  # naming one cannot help either: each is refused by name (audit s70sim F6)
        raise DataError(f"{path.name} holds no signal stream: one must be numeric with a nominal rate > 0 and not one "
                        f"bci-stream adds (decoded, provenance, events); streams are {_describe(streams)}")
    raise DataError(f"{path.name} has {len(default)} candidate {what}s; pass {what}=<name> to choose one; "
                    f"streams are {_describe(streams)}")


def _service_streams(streams: list[dict[str, Any]]) -> set[int]:
    """``id()`` of the streams bci-stream itself adds to a session: every ``Decoded`` stream, the streams
    whose source_id is one's plus ``/provenance`` or ``/events`` (its markers' ``/markers`` are the cues), and every
    stream of type ``bci-stream-events`` (the service events: :data:`bci_stream.io.xdf_chunks.EVENTS_TYPE`; a
    ``bci-stream record`` file's have no decoded stream beside them)."""
    decoded = [s for s in streams if _info(s, "type") == "Decoded"]
    ids = {_info(s, "source_id") + suffix for s in decoded for suffix in ("/provenance", "/events")
           if _info(s, "source_id")}
    return {id(s) for s in decoded} | {id(s) for s in streams if _info(s, "source_id") in ids
                                       or _info(s, "type") == EVENTS_TYPE}


def _channels(stream: dict[str, Any], n_chans: int) -> tuple[list[str], list[str], list[str]]:
    """Labels, units and types from the stream's ``desc``, by position (numbered names and blanks for channels it
    does not list)."""
    desc = stream["info"].get("desc", [None])
    try:
        chans = desc[0]["channels"][0]["channel"] or []
    except (TypeError, KeyError, IndexError):
        chans = []
    if len(chans) > n_chans:
        raise DataError(f"stream {_info(stream, 'name')!r}: its desc lists {len(chans)} channels, more than the "
                        f"{n_chans} its samples have; which entry is which channel cannot be told")
    chans = list(chans) + [{}] * (n_chans - len(chans))  # by position, as LSL readers do: missing entries blank

    def value(c: dict, key: str) -> str:
        return str((c.get(key) or [""])[0] or "").strip()

    key = "label" if any(value(c, "label") for c in chans) else "name"  # as the live service: read_labels
    names = [value(c, key) or str(i + 1) for i, c in enumerate(chans)]
    return names, [value(c, "unit") for c in chans], [value(c, "type").lower() for c in chans]


def _scales(units: list[str], types: list[str], name: str) -> tuple[np.ndarray, list[str], list[str]]:
    """Per channel: the factor to µV (1 for a channel without a unit, or not in a voltage), the channel type and the
    unit of the data as loaded (:data:`UNIT` for a voltage; the file's unit for another). A channel not in a voltage
    keeps a declared type that is not a voltage type (``stim``, ``temperature``), else it is typed ``misc``.

    The live service's rule (:func:`bci_stream.core.units.stream_units`, one function for both): a stream none of
    whose channels gives a unit (blank, ``none``, ``n/a``, ``unknown``) is in µV, as the service reads such a stream
    in its assumed unit (:func:`bci_stream.lsl.units.unit_scale`). Beside channels that give a unit, a channel that
    gives none, a blank unit too, is not guessed (the live service refuses it there, and a decoder's recording
    keeps it blank, :func:`bci_stream.lsl.units.recorded_channels`): kept as it is, with its unit (mne-lsl's
    ``none`` on a stim channel; a blank one reads as ``none``)."""
    scale, ch_types, ch_units, voltage = [], [], [], False
    read, assumed = stream_units(units, types)
    for unit, as_read, ch_type in zip(units, read, types):
        volts = 1e-6 if assumed else (None if as_read is None else volts_per_unit(as_read))
        voltage = voltage or volts is not None
        scale.append(1.0 if volts is None else volts * 1e6)
        if volts is None:
            ch_types.append(ch_type if ch_type and ch_type not in MNE_VOLTAGE_TYPES else "misc")
            ch_units.append(unit)
        else:
            ch_types.append(ch_type or "eeg")
            ch_units.append(UNIT)
    if not voltage:
        raise DataError(f"channel units must be volts, millivolts, microvolts or nanovolts for at least one channel; "
                        f"stream {name!r} has {sorted(set(units))}")
    return np.array(scale), ch_types, ch_units


#: pyxdf's warning (``load_xdf`` with clock synchronisation) when a stream's jitter segments and clock segments differ.
SEGMENTS_DIFFER = re.compile(r"Stream (\d+): Segments and clock-segments differ")


def load_xdf(path: Path, **options: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``pyxdf.load_xdf(path, **options)``, pyxdf's warnings and errors said as the reader's own.

    Each record of level WARNING or above that pyxdf logs during the call (from this thread: ``found likely XDF file
    corruption (...), scanning forward to next boundary chunk`` of a truncated file) is not printed by its logger
    but given as a :class:`~bci_stream.io.errors.RecordingWarning` naming the file (``FILE: message``, the
    ``warning: FILE: ...`` line of the commands), also when the file then fails to load; pyxdf's lower levels are
    untouched. A file cut short within a chunk that pyxdf cannot read past, or of no stream (:mod:`.xdf_cut`), is read
    up to its last whole chunk, with a warning saying so. Except pyxdf's :data:`SEGMENTS_DIFFER` warning, which is
    dropped for a stream that holds no clock offset: pyxdf builds a stream's clock segments from its ClockOffset
    chunks, and warns when they differ from its jitter segments; a stream with no offset has no clock segment, so it
    is warned about whenever it has samples, and the warning says nothing about the data (no offset was applied to
    it; the XDF spec needs none for a stream on the recorder's clock). The same warning for a stream with offsets (a
    clock reset, a break in the samples, which the reader says in its own words) is passed on to pyxdf's logger as it
    was.
    """
    pyxdf = require("pyxdf", "reading XDF files")
    path = Path(path)
    check_begins_as_xdf(path)
    logger = logging.getLogger(pyxdf.load_xdf.__module__)
    got, held = _pyxdf_held(pyxdf, logger, str(path), options)
    if isinstance(got, Exception) or not got[0]:  # a file cut within a chunk pyxdf cannot pass? (xdf_cut)
        if (cut := cut_short(path)) is not None:  # (DataError when not even its file header is whole)
            with open(path, "rb") as f:
                whole = io.BytesIO(f.read(cut[0]))
            got, held = _pyxdf_held(pyxdf, logger, whole, options)
            warnings.warn(cut_message(path, *cut), RecordingWarning, stacklevel=2)
    if isinstance(got, Exception):
        _say(path, held, set(), logger)  # the file failed: every warning it gave is said
        raise got
    streams, header = got
    _say(path, held, {s["info"].get("stream_id") for s in streams
                      if s.get("clock_times") is not None and len(s["clock_times"]) == 0}, logger)
    return streams, header


def _pyxdf_held(pyxdf: Any, logger: logging.Logger, source: Any, options: dict[str, Any]) -> tuple[Any, list]:
    """``pyxdf.load_xdf(source, **options)`` (its result, or the exception it raised) and the records of level
    WARNING or above it logged from this thread meanwhile, held back from its logger."""
    held: list[logging.LogRecord] = []
    me = threading.get_ident()

    def hold(record: logging.LogRecord) -> bool:
        if record.thread == me and record.levelno >= logging.WARNING:
            held.append(record)
            return False
        return True

    logger.addFilter(hold)
    try:
        return pyxdf.load_xdf(source, **options), held
    except Exception as exc:  # noqa: BLE001 - pyxdf raises bare Exception, struct.error, ParseError... on bad files
        return exc, held
    finally:
        logger.removeFilter(hold)


def _say(path: Path, records: list[logging.LogRecord], no_offsets: set[Any], logger: logging.Logger) -> None:
    """pyxdf's ``records`` as RecordingWarnings naming the file (an exception's text after the message); a
    :data:`SEGMENTS_DIFFER` warning dropped for a stream in ``no_offsets``, else handled by ``logger``."""
    for record in records:
        message = record.getMessage()
        if (match := SEGMENTS_DIFFER.fullmatch(message)) is not None:
            if int(match.group(1)) not in no_offsets:
                logger.handle(record)
            continue
        if record.exc_info and record.exc_info[1] is not None:
            message += f": {record.exc_info[1]!r}"
        warnings.warn(f"{Path(path).name}: {message}", RecordingWarning, stacklevel=3)


def _sample_times(stamps: np.ndarray, sfreq: float, jumps: list[int], *, file: str, signal: str
                  ) -> tuple[np.ndarray, bool]:
    """The signal stream's times by which markers are placed, from its stamps as written (clock-synchronised by pyxdf,
    not de-jittered): the stamps themselves when they are regular
    (:func:`~bci_stream.io.xdf_clock.step_irregularity` at most :data:`~bci_stream.io.xdf_clock.GRID_TOLERANCE`: a
    loss shorter than a jump stays where it is), else a line per part between ``jumps`` and the losses found net of
    the jitter (:func:`~bci_stream.io.xdf_clock.dejitter`, :mod:`bci_stream.io.xdf_losses`, which says them).
    Returns the times and whether they are the file's own."""
    if step_irregularity(stamps, sfreq) <= GRID_TOLERANCE:
        return stamps, True
    losses = jittered_losses(stamps, sfreq, jumps)
    warn_jittered_losses(losses, sfreq, file=file, signal=signal)
    return dejitter(stamps, sfreq, jumps, [k for k, _ in losses]), False


def _marker_candidates(streams: list[dict[str, Any]], own: set[int]) -> list[dict[str, Any]]:
    """The default marker stream's candidates: the string streams bci-stream did not add (``own``), else its numeric
    streams without a nominal rate. String streams come first so that a file holding one reads as it always did
    beside an irregular numeric stream that is no marker stream (LSL's MousePosition)."""
    mine = [s for s in streams if id(s) not in own]
    strings = [s for s in mine if _info(s, "channel_format") == "string"]
    return strings or [s for s in mine if float(_info(s, "nominal_srate") or 0) <= 0]


def _marker_labels(stream: dict[str, Any], n_chans: int) -> list[str] | None:
    """A marker stream's channel labels from its ``desc``, or None unless it labels every channel (as the live
    follower reads them: :func:`bci_stream.lsl.info.read_ch_names`)."""
    try:
        chans = stream["info"]["desc"][0]["channels"][0]["channel"] or []
    except (TypeError, KeyError, IndexError):
        return None
    labels = [str((c.get("label") or [""])[0] or "").strip() if isinstance(c, dict) else "" for c in chans]
    return labels if len(labels) == n_chans and all(labels) else None


def _source_of(mk: dict[str, Any]) -> dict[str, str]:
    """The followed stream's ``channel_format``, ``channel_count`` and ``nominal_srate`` as a recording's header
    gives them (``desc/marker_stream``, :func:`bci_stream.service.recorder.source_format`); {} without them."""
    try:
        source = mk["info"]["desc"][0]["marker_stream"][0]
        return {k: str((source.get(k) or [""])[0] or "").strip() for k in
                ("channel_format", "channel_count", "nominal_srate", "every_channel")}
    except (TypeError, KeyError, IndexError, AttributeError):
        return {}


def _first_channel_only(times: np.ndarray, texts: list[str]) -> tuple[np.ndarray, list[str]]:
    """The markers of a ``record`` file of a string stream of several channels as a decoder reads that stream: its
    first channel, if not blank. ``record`` wrote each sample's first channel (blank too) and then each other
    channel's non-empty value, all at the sample's time (its header's ``every_channel``): the first value at each time
    is kept (audit s62interop F2: before, calibrate took the other channels' values for cues no decoder receives; two
    samples on one stamp keep the first's value only: the file holds no sample boundaries), unless blank."""
    first = np.r_[True, np.diff(times) != 0] if len(times) else np.zeros(0, dtype=bool)
    keep = [i for i in np.flatnonzero(first) if texts[i].strip()]
    return times[keep], [texts[i] for i in keep]


def _numeric_source(mk: dict[str, Any]) -> bool:
    """Whether a string marker stream was recorded (``bci-stream record``, a decoder's ``record_path``) from a
    one-channel numeric stream without a nominal rate: its header's ``desc/marker_stream`` says so
    (:func:`bci_stream.service.recorder.source_format`: ``channel_format`` not ``string``, ``channel_count`` 1,
    ``nominal_srate`` 0 or not given). Files without these fields (older recordings, LabRecorder's) read as before."""
    said = _source_of(mk)
    try:
        rate = float(said.get("nominal_srate") or 0)
    except ValueError:
        return False
    return said.get("channel_format", "") not in ("", "string") and said.get("channel_count") == "1" and not rate > 0


def _markers(mk: dict[str, Any], zero: bool) -> tuple[np.ndarray, list[str]]:
    """The marker stream's timestamps and values (:func:`bci_stream.io.marker_codes.stream_markers`)."""
    is_string = _info(mk, "channel_format") == "string"
    n_chans = 1 if is_string else int(np.asarray(mk["time_series"]).reshape(len(mk["time_stamps"]), -1).shape[1])
    times, texts = stream_markers(mk["time_series"], mk["time_stamps"], is_string=is_string,
                                  srate=float(_info(mk, "nominal_srate") or 0), zero=zero,
                                  labels=None if is_string else _marker_labels(mk, n_chans),
                                  numeric_source=is_string and _numeric_source(mk))
    source = _source_of(mk)
    if is_string and source.get("every_channel") == "1" and source.get("channel_format") == "string" \
            and source.get("channel_count", "1") not in ("", "1"):  # each value as written, blank ones too
        return _first_channel_only(np.asarray(mk["time_stamps"], dtype=np.float64),
                                   [str(s[0]) if len(s) else "" for s in mk["time_series"]])
    return times, texts


def read_xdf(path: Path, *, stream: str | None = None, marker_stream: str | None = None,
             until_next: bool = False, zero: bool = False) -> tuple[np.ndarray, float, list[str], list[Event], dict]:
    """Data (µV), sfreq, channel names, events and ``{"ch_types": [...]}`` from an XDF file (see the module
    docstring; ``zero``: a 0 on a one-channel numeric marker stream without a rate is the event ``"0"``)."""
    require("pyxdf", "reading XDF files")  # a missing pyxdf says how to install it, not that the file is bad
    try:
        streams, _header = load_xdf(path, dejitter_timestamps=False)  # clock offsets applied; see _sample_times
    except DataError:  # said in the reader's words already (a file cut within its header: xdf_cut)
        raise
    except Exception as exc:  # pyxdf raises bare Exception/IOError on bad files
        raise DataError(f"cannot read {path} as an XDF file: {exc}") from exc
    own = _service_streams(streams)
    signals = [s for s in streams if id(s) not in own
               and _info(s, "channel_format") != "string" and float(_info(s, "nominal_srate") or 0) > 0]
    markers = _marker_candidates(streams, own)
    mk = None if marker_stream is None else _select(streams, marker_stream, markers, "marker_stream", path,
                                                    required=False)
    signals = [s for s in signals if s is not mk]  # a trigger channel named as the marker stream is no signal
    sig = _select(streams, stream, signals, "stream", path, required=True)
    assert sig is not None
    sfreq = float(_info(sig, "nominal_srate") or 0)
    if sfreq <= 0 or _info(sig, "channel_format") == "string":
        raise DataError(f"stream must be numeric with a nominal rate; {_info(sig, 'name')!r} is "
                        f"{_info(sig, 'channel_format')} at {sfreq:g} Hz")
    values = np.asarray(sig["time_series"], dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0:
        raise DataError(f"stream {_info(sig, 'name')!r} of {path.name} holds no samples")
    written = np.asarray(sig["time_stamps"], dtype=np.float64)
    jumps = mark_jumps(written, sfreq, file=path.name, signal=_info(sig, "name"))
    stamps, regular = _sample_times(written, sfreq, jumps, file=path.name, signal=_info(sig, "name"))
    warn_rate(stamps, sfreq, jumps, file=path.name, signal=_info(sig, "name"))
    names, units, types = _channels(sig, values.shape[1])
    scale, ch_types, ch_units = _scales(units, types, _info(sig, "name"))
    data = values.T * scale[:, None]

    if marker_stream is None:
        mk = _select(streams, None, markers, "marker_stream", path, required=False)
    if regular:
        warn_losses(stamps, sfreq, file=path.name, signal=_info(sig, "name"))
    events = [Event(k, 0, JUMP) for k in jumps]
    m_stamps, texts = _markers(mk, zero) if mk is not None and len(mk["time_stamps"]) else (np.zeros(0), [])
    if texts and mk is not None:
        placed = place_markers(stamps, m_stamps, sfreq, file=path.name, signal=_info(sig, "name"),
                               markers=_info(mk, "name"), values=texts)
        onsets = sorted(((int(o), texts[k]) for k, o in enumerate(placed) if o >= 0), key=lambda o: o[0])
        for k, (onset, desc) in enumerate(onsets):
            end = onsets[k + 1][0] if k + 1 < len(onsets) else data.shape[1]
            if (cut := bisect.bisect_right(jumps, onset)) < len(jumps):  # a marker's span ends at a jump too
                end = min(end, jumps[cut])
            events.append(Event(onset, end - onset if until_next else 0, desc))
    events.sort(key=lambda e: e.onset)
    return data, sfreq, names, events, {"ch_types": ch_types, "ch_units": ch_units}
