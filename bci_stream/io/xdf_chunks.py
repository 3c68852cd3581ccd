"""An append-only writer of XDF, the Lab Streaming Layer's recording format (as LabRecorder writes it).

XDF is a sequence of chunks ``[n_length_bytes:u8][length][tag:u16][content]`` after the magic
``XDF:``; every chunk is complete on its own, so a file cut short by a crash is readable up to its
last complete chunk (pyxdf, MNE and EEGLAB read it). Spec: https://github.com/sccn/xdf/wiki/Specifications

Only what a recorder needs: file header, stream headers, numeric and string sample chunks, clock
offsets, boundaries and stream footers.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape

import numpy as np

TAG_FILE_HEADER, TAG_STREAM_HEADER, TAG_SAMPLES, TAG_CLOCK_OFFSET, TAG_BOUNDARY, TAG_STREAM_FOOTER = 1, 2, 3, 4, 5, 6
BOUNDARY_UUID = bytes([0x43, 0xA5, 0x46, 0xDC, 0xCB, 0xF5, 0x41, 0x0F, 0xB3, 0x0E, 0xD5, 0x46, 0x73, 0x83, 0xCB, 0xE4])
#: The type of bci-stream's service events stream in its recordings: not ``Markers``, so that no reader takes the
#: service's events for the cues (:mod:`bci_stream.service.recorder` writes it, :mod:`bci_stream.io.xdf` skips it).
EVENTS_TYPE = "bci-stream-events"
NUMERIC_DTYPES = {"float32": "<f4", "double64": "<f8", "int8": "<i1", "int16": "<i2", "int32": "<i4", "int64": "<i8"}


def check_begins_as_xdf(path: str | Path) -> None:
    """Raise :class:`~bci_stream.io.errors.DataError` naming ``path`` when it is empty (0 bytes: nothing was written
    to it, e.g. a recorder that could not write its file) or does not begin with XDF's magic ``XDF:``; pyxdf said only
    "Invalid XDF file" of both."""
    import gzip

    from bci_stream.io.errors import DataError

    path = Path(path)
    packed = path.name.endswith((".xdfz", ".xdf.gz"))  # as pyxdf tells a compressed file
    try:  # a compressed XDF (as pyxdf reads one) begins with the magic once unpacked (before, every one was refused)
        with gzip.open(path, "rb") if packed and path.stat().st_size else open(path, "rb") as f:
            magic = f.read(4)
    except (gzip.BadGzipFile, EOFError) as e:
        raise DataError(f"{path} is not a gzip-compressed XDF file (as its name says it is): {e}") from None
    if not magic:
        raise DataError(f"{path} is empty (0 bytes): nothing was written to it (an XDF file begins with 'XDF:')")
    if magic != b"XDF:":
        raise DataError(f"{path} is not an XDF file: it begins with {magic!r}, not b'XDF:'")


def _varlen(n: int) -> bytes:
    """XDF variable-length integer: a byte giving the width (1, 4 or 8), then the value."""
    if n < 256:
        return struct.pack("<BB", 1, n)
    if n < 2**32:
        return struct.pack("<BI", 4, n)
    return struct.pack("<BQ", 8, n)


def stream_header_xml(
    name: str,
    stype: str,
    ch_names: Sequence[str],
    sfreq: float,
    channel_format: str,
    source_id: str = "",
    *,
    unit: str | Sequence[str] = "",
    ch_types: Sequence[str] | None = None,
    extra_desc: str = "",
    extra_info: str = "",
    channel_extras: Sequence[str] | None = None,
) -> str:
    """The ``<info>`` XML of a stream header, with ``desc/channels`` labels, units (``unit``: one for every
    channel, or one per channel) and, when given, channel types; ``extra_desc``, ``extra_info`` and each of
    ``channel_extras``: XML put as they are in ``desc``, ``info`` and each channel entry (the sender's own
    description: :func:`~bci_stream.lsl.sender_desc.sender_desc`)."""
    units = [unit] * len(ch_names) if isinstance(unit, str) else list(unit)
    if len(units) != len(ch_names):
        raise ValueError(f"unit must be one string or one per channel ({len(ch_names)}); got {len(units)}")
    if ch_types is not None and len(ch_types) != len(ch_names):
        raise ValueError(f"ch_types must give one type per channel ({len(ch_names)}); got {len(ch_types)}")
    types = [f"<type>{escape(t)}</type>" for t in ch_types] if ch_types is not None else [""] * len(ch_names)
    extras = list(channel_extras or []) + [""] * (len(ch_names) - len(channel_extras or []))
    channels = "".join(
        f"<channel><label>{escape(c)}</label><unit>{escape(u)}</unit>{t}{x}</channel>"
        for c, u, t, x in zip(ch_names, units, types, extras)
    )
    return (
        '<?xml version="1.0"?><info>'
        f"<name>{escape(name)}</name><type>{escape(stype)}</type>"
        f"<channel_count>{len(ch_names)}</channel_count><nominal_srate>{sfreq!r}</nominal_srate>"
        f"<channel_format>{channel_format}</channel_format><source_id>{escape(source_id)}</source_id>{extra_info}"
        f"<desc><channels>{channels}</channels>{extra_desc}</desc></info>"
    )


class XdfWriter:
    """Write XDF chunks to a binary file object opened for appending.

    Streams are declared with :meth:`add_stream` (which writes the stream header) and then get
    sample chunks with :meth:`write_numeric` / :meth:`write_strings`; :meth:`close_stream` writes the
    footer with first/last timestamp and sample count.
    """

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self._streams: dict[int, dict] = {}
        #: the magic, the file header and every stream header written so far: how a new file of the same
        #: recording begins (:meth:`header`)
        self.headers = bytearray(b"XDF:")
        f.write(b"XDF:")
        now = datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds")
        self._chunk(TAG_FILE_HEADER, f'<?xml version="1.0"?><info><version>1.0</version><datetime>{now}</datetime>'
                                     '</info>'.encode())  # when it was recorded, as LabRecorder writes it

    def _chunk(self, tag: int, content: bytes) -> None:
        chunk = _varlen(len(content) + 2) + struct.pack("<H", tag) + content
        if tag in (TAG_FILE_HEADER, TAG_STREAM_HEADER):
            self.headers += chunk
        self.f.write(chunk)

    def counts(self) -> dict[int, tuple]:
        """What the footers will say so far (first, last, count, number of clock offsets), per stream: to put back
        with :meth:`restore` when the chunks written since did not reach the file."""
        return {sid: (s["first"], s["last"], s["count"], len(s["offsets"])) for sid, s in self._streams.items()}

    def restore(self, counts: dict[int, tuple]) -> None:
        """The footers' figures as :meth:`counts` gave them (a stream declared since keeps its header only)."""
        for sid, s in self._streams.items():
            s["first"], s["last"], s["count"], n = counts.get(sid, (None, None, 0, 0))
            del s["offsets"][n:]

    def restart_header(self) -> bytes:
        """The beginning of a new file that goes on with this recording: :attr:`headers`, then each stream's last
        clock offset (so a reader maps its samples as before); its footers will count from there on."""
        out = bytearray(self.headers)
        for sid, s in self._streams.items():
            s["first"], s["last"], s["count"] = None, None, 0
            del s["offsets"][:-1]
            for t, v in s["offsets"]:
                content = struct.pack("<Idd", sid, t, v)
                out += _varlen(len(content) + 2) + struct.pack("<H", TAG_CLOCK_OFFSET) + content
        return bytes(out)

    def add_stream(self, stream_id: int, header_xml: str, channel_format: str, n_chans: int) -> None:
        """Declare stream ``stream_id`` (its header XML must state the same format and channel count)."""
        if stream_id in self._streams:
            raise ValueError(f"stream_id must be unique, got {stream_id} twice")
        if channel_format != "string" and channel_format not in NUMERIC_DTYPES:
            raise ValueError(f"channel_format must be 'string' or one of {sorted(NUMERIC_DTYPES)}, "
                             f"got {channel_format!r}")
        self._streams[stream_id] = {"format": channel_format, "n_chans": n_chans, "first": None, "last": None,
                                    "count": 0, "offsets": []}
        self._chunk(TAG_STREAM_HEADER, struct.pack("<I", stream_id) + header_xml.encode("utf-8"))

    def _note(self, stream_id: int, first: float, last: float, n: int) -> None:
        s = self._streams[stream_id]
        s["first"] = first if s["first"] is None else s["first"]
        s["last"], s["count"] = last, s["count"] + n

    def write_numeric(self, stream_id: int, timestamps: np.ndarray, values: np.ndarray) -> None:
        """Samples ``values[n, n_chans]`` with one timestamp each."""
        s = self._streams[stream_id]
        n = len(timestamps)
        if n == 0:
            return
        if values.shape != (n, s["n_chans"]):
            raise ValueError(f"values must have shape ({n}, {s['n_chans']}), got {values.shape}")
        rec = np.empty(n, dtype=[("tsb", "u1"), ("ts", "<f8"), ("v", NUMERIC_DTYPES[s["format"]], (s["n_chans"],))])
        rec["tsb"], rec["ts"], rec["v"] = 8, timestamps, values
        self._chunk(TAG_SAMPLES, struct.pack("<I", stream_id) + _varlen(n) + rec.tobytes())
        self._note(stream_id, float(timestamps[0]), float(timestamps[-1]), n)

    def write_strings(self, stream_id: int, timestamps: Sequence[float], values: Sequence[str]) -> None:
        """One-channel string samples (markers)."""
        if not len(timestamps):
            return
        parts = [struct.pack("<I", stream_id), _varlen(len(timestamps))]
        for t, v in zip(timestamps, values):
            data = v.encode("utf-8")
            parts.append(struct.pack("<Bd", 8, t) + _varlen(len(data)) + data)
        self._chunk(TAG_SAMPLES, b"".join(parts))
        self._note(stream_id, float(timestamps[0]), float(timestamps[-1]), len(timestamps))

    def write_clock_offset(self, stream_id: int, collection_time: float, offset: float) -> None:
        """A clock-offset measurement (``local = remote + offset`` at ``collection_time``)."""
        self._chunk(TAG_CLOCK_OFFSET, struct.pack("<Idd", stream_id, collection_time, offset))
        self._streams[stream_id]["offsets"].append((collection_time, offset))

    def write_boundary(self) -> None:
        """A boundary chunk: lets a reader resynchronise after a damaged region."""
        self._chunk(TAG_BOUNDARY, BOUNDARY_UUID)

    def close_stream(self, stream_id: int) -> None:
        """Write the stream's footer."""
        s = self._streams[stream_id]
        offsets = "".join(f"<offset><time>{t!r}</time><value>{v!r}</value></offset>" for t, v in s["offsets"])
        xml = (
            '<?xml version="1.0"?><info>'
            f"<first_timestamp>{s['first'] if s['first'] is not None else 0.0!r}</first_timestamp>"
            f"<last_timestamp>{s['last'] if s['last'] is not None else 0.0!r}</last_timestamp>"
            f"<sample_count>{s['count']}</sample_count><clock_offsets>{offsets}</clock_offsets></info>"
        )
        self._chunk(TAG_STREAM_FOOTER, struct.pack("<I", stream_id) + xml.encode("utf-8"))
